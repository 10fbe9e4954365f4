// Lenient reads from the daemon's answers. The formatters print whatever the daemon sends and
// must not throw on a missing or ill-typed member (an older or newer anylbd may differ): each
// getter returns its default instead, and the output shows an empty cell or a zero.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace anylb::ctl {

using Json = nlohmann::json;

// The member `key` of object `j`, or a null value when `j` is not an object or lacks it.
const Json& member(const Json& j, const char* key);
// An array member, or an empty array.
const Json& arrayMember(const Json& j, const char* key);

std::string getString(const Json& j, const char* key, const std::string& def = "");
// Non-negative integers; a negative or fractional number is clamped/truncated.
uint64_t getU64(const Json& j, const char* key, uint64_t def = 0);
int64_t getI64(const Json& j, const char* key, int64_t def = 0);
bool getBool(const Json& j, const char* key, bool def = false);
bool hasMember(const Json& j, const char* key);

// A scalar as text: strings as they are, numbers and booleans as JSON writes them, null empty.
std::string scalarText(const Json& v);

// JSON text that never throws (invalid UTF-8 from the daemon is replaced, not fatal).
std::string dumpJson(const Json& j, int indent = -1);

}  // namespace anylb::ctl
