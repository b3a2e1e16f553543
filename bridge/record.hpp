// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "z2z/config/error.hpp"
#include "z2z/mdns/service.hpp"

namespace z2z::bridge {

/// Largest record accepted from the DHT, in bytes.
inline constexpr std::size_t kMaxRecordSize = 16 * 1024;
inline constexpr std::size_t kMaxAddresses = 16;
inline constexpr std::size_t kMaxTxtStrings = 255;
inline constexpr std::size_t kMaxTxtBytes = 8900;  // what fits one mDNS packet's TXT

/// What a record says about its service.
enum class RecordKind {
  Service,    ///< the service exists with this data
  Withdrawn,  ///< the service left its link (only the key is meaningful)
  Heartbeat,  ///< the origin gateway is alive (no service)
};

/// One DHT value of z2z: a versioned XML document (see README, "Records in the DHT").
struct Record {
  RecordKind kind = RecordKind::Service;
  std::string origin;               ///< 16 lowercase hex digits: the exporting gateway
  std::uint64_t seq = 0;            ///< newer records of an origin have larger numbers
  std::chrono::seconds lease{120};  ///< the origin's lease: silent longer, its services go
  mdns::Service service;            ///< key only for Withdrawn, empty for Heartbeat
  bool operator==(const Record&) const = default;
};

std::string encodeRecord(const Record& record);

/// Parses a DHT value. Strict: wrong version, unknown elements or attributes, bad field values,
/// or more than kMaxRecordSize bytes give a failure that says which.
Result<Record> decodeRecord(std::string_view bytes);

/// True for a well-formed origin id (16 lowercase hex digits).
bool isOriginId(std::string_view id);

}  // namespace z2z::bridge
