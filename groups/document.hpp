// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "z2z/config/error.hpp"

namespace z2z::groups {

class Identity;

/// The first line of every group-management document: readers tell documents from other
/// values by it without parsing XML.
inline constexpr std::string_view kHeader = "GROUP-MANAGEMENT:\n";
/// Largest document accepted, header included.
inline constexpr std::size_t kMaxDocumentSize = 8 * 1024;
inline constexpr std::size_t kMaxEndpoints = 16;
inline constexpr std::size_t kMaxMemberKeys = 32;
inline constexpr std::size_t kMaxDescription = 256;
inline constexpr std::size_t kMaxGroupName = 63;

/// The three document types of the schema in z2z-groups(7).
enum class DocType {
  GroupInfo,   ///< how to reach a group: its members' bootstrap endpoints (main overlay)
  Membership,  ///< one member's presence and endpoint (group overlay)
  Alias,       ///< another name for a group (main overlay)
};

enum class DocStatus {
  Active,
  Removed,  ///< the group was removed, the member left, the alias was dropped
};

struct BootstrapEndpoint {
  std::string address;  ///< an IPv4 or IPv6 address literal
  std::uint16_t port = 0;
  bool operator==(const BootstrapEndpoint&) const = default;
};

/// One group-management document (see z2z-groups(7) for the schema).
struct Document {
  DocType type = DocType::GroupInfo;
  std::string name;           ///< the group (or alias) name
  std::uint64_t version = 0;  ///< microseconds since the epoch; newer documents are larger
  std::uint64_t expires = 0;  ///< seconds since the epoch after which the document is void
  DocStatus status = DocStatus::Active;
  std::uint64_t since = 0;                   ///< Membership: when the member joined (microseconds)
  std::string target;                        ///< Alias: the group the alias names
  std::vector<BootstrapEndpoint> endpoints;  ///< GroupInfo, Membership
  std::string description;                   ///< GroupInfo, optional
  std::vector<std::string> memberKeys;       ///< GroupInfo: raw public keys of current members
  std::string signer;                        ///< raw public key of the writer
  std::string signature;                     ///< raw signature over signingInput()
  bool operator==(const Document&) const = default;
};

const char* typeName(DocType type);

/// True for a group or alias name: 1 to 63 bytes of letters, digits, '-', '_' and '.'.
bool isGroupName(std::string_view name);

/// The header line and the canonical XML of `doc`.
std::string encodeDocument(const Document& doc);

/// Parses a document. Strict: a missing header, unknown or misplaced elements or attributes,
/// values out of range, fields that do not belong to the type or status, or more than
/// kMaxDocumentSize bytes give a failure that says which. Does not check the signature.
Result<Document> decodeDocument(std::string_view bytes);

/// The bytes a signature covers: a context line and the canonical document without its
/// <signature>.
std::string signingInput(const Document& doc);

/// Sets signer and signature of `doc` with `identity`.
void signDocument(Document& doc, const Identity& identity);

/// True if the document's signature is valid for its signer.
bool verifyDocument(const Document& doc);

}  // namespace z2z::groups
