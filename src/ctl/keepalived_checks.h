// keepalived's health checkers (TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, DNS_CHECK, UDP_CHECK,
// PING_CHECK, SMTP_CHECK...) and their timing keys, mapped onto one anylb health_check table
// (docs/config.md "Checks as keepalived has them", docs/migration.md). Part of the importer
// (ctl/keepalived_import.h); runs on the caller's thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ctl/keepalived_conf.h"
#include "ctl/keepalived_mapping.h"

namespace anylb::ctl::keepalived {

class CheckMapper {
 public:
  // `defaults` collects every check-default statement read (for the importer's report of those
  // no check took).
  CheckMapper(Reporter& report, std::vector<const ConfNode*>& defaults)
      : rep_(report), defaults_(defaults) {}

  static bool isChecker(const std::string& key);
  // delay_loop, connect_timeout, retry, nb_get_retry, delay_before_retry, virtualhost, warmup,
  // inhibit_on_failure: the keys that are check defaults at every level (virtual_server,
  // real_server, checker).
  static bool isDefaultKey(const std::string& key);
  // One of those into `d`; inhibit_on_failure sets `serviceTable`'s on_rs_down (nullptr at the
  // checker level, where it is not a key).
  void defaultKey(const ConfNode& c, CheckDefaults& d, Table* serviceTable);
  // One checker as a [service.real_server.health_check] table; nullopt when it has no
  // equivalent at all (reported; the RS's next checker is tried).
  std::optional<Table> checker(const ConfNode& c, bool udpService, CheckDefaults d);

 private:
  void timings(const ConfNode& c, const std::string& k, Table& t, const CheckDefaults& d,
               const Layered<double>& miscTimeout);
  bool httpKey(const ConfNode& e, Table& t, CheckDefaults& d, bool& urlDone);
  bool miscKey(const ConfNode& e, Table& t, Layered<double>& miscTimeout);
  bool udpKey(const ConfNode& e, Table& t);

  Reporter& rep_;
  std::vector<const ConfNode*>& defaults_;
};

}  // namespace anylb::ctl::keepalived
