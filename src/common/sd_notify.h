// systemd's notification protocol, without libsystemd: one datagram to $NOTIFY_SOCKET
// ("READY=1", "WATCHDOG=1", "STOPPING=1", "STATUS=..."). A no-op when not started by systemd
// with Type=notify. Returns false only when a socket was named and the send failed.
#pragma once

#include <string_view>

namespace anylb {

bool sdNotify(std::string_view state);
// The watchdog interval systemd expects pings within ($WATCHDOG_USEC), in ms; 0 = none.
unsigned sdWatchdogMs();

}  // namespace anylb
