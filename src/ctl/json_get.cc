#include "ctl/json_get.h"

#include <cmath>

namespace anylb::ctl {

namespace {
const Json& nullJson() {
  static const Json kNull;
  return kNull;
}
}  // namespace

const Json& member(const Json& j, const char* key) {
  if (!j.is_object()) return nullJson();
  const auto it = j.find(key);
  return it == j.end() ? nullJson() : *it;
}

const Json& arrayMember(const Json& j, const char* key) {
  static const Json kEmpty = Json::array();
  const auto& v = member(j, key);
  return v.is_array() ? v : kEmpty;
}

bool hasMember(const Json& j, const char* key) {
  return !member(j, key).is_null();
}

std::string getString(const Json& j, const char* key, const std::string& def) {
  const auto& v = member(j, key);
  if (v.is_null()) return def;
  return scalarText(v);
}

uint64_t getU64(const Json& j, const char* key, uint64_t def) {
  const auto& v = member(j, key);
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) return v.get<int64_t>() < 0 ? 0 : v.get<uint64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    return d <= 0 || std::isnan(d) ? 0 : static_cast<uint64_t>(d);
  }
  return def;
}

int64_t getI64(const Json& j, const char* key, int64_t def) {
  const auto& v = member(j, key);
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) return static_cast<int64_t>(v.get<double>());
  return def;
}

bool getBool(const Json& j, const char* key, bool def) {
  const auto& v = member(j, key);
  return v.is_boolean() ? v.get<bool>() : def;
}

std::string scalarText(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return dumpJson(v);
}

std::string dumpJson(const Json& j, int indent) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

}  // namespace anylb::ctl
