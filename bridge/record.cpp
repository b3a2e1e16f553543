// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/bridge/record.hpp"

#include <algorithm>
#include <charconv>
#include <pugixml.hpp>
#include <set>
#include <sstream>

#include "z2z/config/encoding.hpp"
#include "z2z/config/options.hpp"
#include "z2z/config/values.hpp"
#include "z2z/mdns/dns_wire.hpp"

namespace z2z::bridge {
namespace {

constexpr std::string_view kVersion = "1";

const char* kindName(RecordKind kind) {
  switch (kind) {
    case RecordKind::Service:
      return "service";
    case RecordKind::Withdrawn:
      return "withdrawn";
    case RecordKind::Heartbeat:
      return "heartbeat";
  }
  return "?";
}

// Every attribute of `node` must be in `allowed`, and every name in `required` present.
Status checkAttributes(const pugi::xml_node& node, std::initializer_list<std::string_view> allowed,
                       std::initializer_list<std::string_view> required) {
  std::set<std::string_view> seen;
  for (const pugi::xml_attribute& a : node.attributes()) {
    std::string_view name = a.name();
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      return fail("<" + std::string(node.name()) + "> has an unknown attribute '" +
                  std::string(name) + "'");
    }
    if (!seen.insert(name).second) {
      return fail("<" + std::string(node.name()) + "> has the attribute '" + std::string(name) +
                  "' twice");
    }
  }
  for (std::string_view r : required) {
    if (!seen.count(r)) {
      return fail("<" + std::string(node.name()) + "> lacks the attribute '" + std::string(r) +
                  "'");
    }
  }
  return {};
}

template <typename Int>
bool parseUnsigned(std::string_view text, Int& out) {
  if (text.empty() || text.size() > 20 || text[0] == '+' || (text.size() > 1 && text[0] == '0')) {
    return false;
  }
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// Only element children; text, comments or processing instructions inside are malformed.
Status onlyElements(const pugi::xml_node& node) {
  for (const pugi::xml_node& child : node.children()) {
    if (child.type() != pugi::node_element) {
      return fail("<" + std::string(node.name()) + "> contains text or other non-element content");
    }
  }
  return {};
}

Status parseServiceKey(const pugi::xml_node& node, mdns::ServiceKey& key) {
  key.name = node.attribute("name").value();
  key.type = node.attribute("type").value();
  key.domain = node.attribute("domain").value();
  if (key.name.empty() || key.name.size() > 63 || !isCleanUtf8(key.name)) {
    return fail("service name must be 1 to 63 bytes of printable UTF-8");
  }
  if (!config::isServiceType(key.type))
    return fail("'" + key.type + "' is not a service type");
  if (key.domain != "local")
    return fail("domain '" + key.domain + "' is not 'local'");
  return {};
}

Status parseService(const pugi::xml_node& node, mdns::Service& service) {
  if (Status s = checkAttributes(node, {"name", "type", "domain", "host", "port"},
                                 {"name", "type", "domain", "host", "port"});
      !s) {
    return s;
  }
  if (Status s = onlyElements(node); !s)
    return s;
  if (Status s = parseServiceKey(node, service.key); !s)
    return s;
  service.host = node.attribute("host").value();
  auto labels = mdns::wire::splitEscaped(service.host);
  if (!labels || labels->size() < 2 || !mdns::wire::encodeName(*labels)) {
    return fail("host '" + service.host + "' is not a host name");
  }
  if (!parseUnsigned(node.attribute("port").value(), service.port)) {
    return fail("port '" + std::string(node.attribute("port").value()) + "' is not 0 to 65535");
  }
  std::size_t txtBytes = 0;
  for (const pugi::xml_node& child : node.children()) {
    std::string_view name = child.name();
    if (Status s = checkAttributes(child, {}, {}); !s)
      return s;
    // One text node at most: a comment between two (skipped by the parser) would join them.
    if (child.first_child() &&
        (child.first_child().type() != pugi::node_pcdata || child.first_child().next_sibling())) {
      return fail("<" + std::string(name) + "> must contain only text");
    }
    std::string_view text = child.text().get();
    if (name == "address") {
      if (service.addresses.size() >= kMaxAddresses)
        return fail("more than 16 addresses");
      auto a = mdns::Address::parse(text);
      if (!a)
        return fail(a.error());
      service.addresses.push_back(*a);
    } else if (name == "txt") {
      if (service.txt.size() >= kMaxTxtStrings)
        return fail("more than 255 TXT strings");
      auto bytes = base64Decode(text);
      if (!bytes)
        return fail("<txt> is not canonical base64");
      if (bytes->empty() || bytes->size() > 255)
        return fail("TXT string of 0 or over 255 bytes");
      txtBytes += bytes->size() + 1;
      if (txtBytes > kMaxTxtBytes)
        return fail("TXT data over 8900 bytes");
      service.txt.push_back(std::move(*bytes));
    } else {
      return fail("<service> has an unknown element <" + std::string(name) + ">");
    }
  }
  if (service.addresses.empty())
    return fail("service without an address");
  return {};
}

}  // namespace

bool isOriginId(std::string_view id) {
  return id.size() == 16 && config::isLowerHex(id);
}

std::string encodeRecord(const Record& record) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("z2z");
  root.append_attribute("version") = std::string(kVersion).c_str();
  root.append_attribute("kind") = kindName(record.kind);
  pugi::xml_node origin = root.append_child("origin");
  origin.append_attribute("id") = record.origin.c_str();
  origin.append_attribute("seq") = std::to_string(record.seq).c_str();
  origin.append_attribute("lease") = std::to_string(record.lease.count()).c_str();
  const mdns::Service& s = record.service;
  if (record.kind != RecordKind::Heartbeat) {
    pugi::xml_node service =
        root.append_child(record.kind == RecordKind::Service ? "service" : "withdrawn");
    service.append_attribute("name") = s.key.name.c_str();
    service.append_attribute("type") = s.key.type.c_str();
    service.append_attribute("domain") = s.key.domain.c_str();
    if (record.kind == RecordKind::Service) {
      service.append_attribute("host") = s.host.c_str();
      service.append_attribute("port") = std::to_string(s.port).c_str();
      for (const mdns::Address& a : s.addresses) {
        service.append_child("address").text() = a.toString().c_str();
      }
      for (const std::string& t : s.txt) {
        service.append_child("txt").text() = base64Encode(t).c_str();
      }
    }
  }
  std::ostringstream out;
  doc.save(out, "", pugi::format_raw | pugi::format_no_declaration);
  return out.str();
}

Result<Record> decodeRecord(std::string_view bytes) {
  if (bytes.size() > kMaxRecordSize) {
    return fail("record of " + std::to_string(bytes.size()) + " bytes exceeds the limit of " +
                std::to_string(kMaxRecordSize));
  }
  pugi::xml_document doc;
  // No DOCTYPE, no entities beyond XML's five: parse_default leaves DTDs out.
  pugi::xml_parse_result parsed = doc.load_buffer(
      bytes.data(), bytes.size(), pugi::parse_default & ~pugi::parse_comments, pugi::encoding_utf8);
  if (!parsed) {
    return fail(std::string("not XML: ") + parsed.description() + " at offset " +
                std::to_string(parsed.offset));
  }
  pugi::xml_node root;
  for (const pugi::xml_node& n : doc.children()) {
    if (n.type() == pugi::node_declaration)
      continue;
    if (n.type() != pugi::node_element || root) {
      return fail("the root element is not a single <z2z> element");
    }
    root = n;
  }
  if (!root || std::string_view(root.name()) != "z2z")
    return fail("the root element is not <z2z>");
  if (Status s = checkAttributes(root, {"version", "kind"}, {"version", "kind"}); !s)
    return fail(s.error());
  if (std::string_view(root.attribute("version").value()) != kVersion) {
    return fail("unsupported record version '" + std::string(root.attribute("version").value()) +
                "'");
  }
  if (Status s = onlyElements(root); !s)
    return fail(s.error());

  Record r;
  std::string_view kind = root.attribute("kind").value();
  if (kind == "service") {
    r.kind = RecordKind::Service;
  } else if (kind == "withdrawn") {
    r.kind = RecordKind::Withdrawn;
  } else if (kind == "heartbeat") {
    r.kind = RecordKind::Heartbeat;
  } else {
    return fail("unknown record kind '" + std::string(kind) + "'");
  }

  pugi::xml_node origin = root.child("origin");
  if (!origin)
    return fail("no <origin>");
  if (Status s = checkAttributes(origin, {"id", "seq", "lease"}, {"id", "seq", "lease"}); !s)
    return fail(s.error());
  if (origin.first_child())
    return fail("<origin> must be empty");
  r.origin = origin.attribute("id").value();
  if (!isOriginId(r.origin))
    return fail("origin id '" + r.origin + "' is not 16 hex digits");
  if (!parseUnsigned(origin.attribute("seq").value(), r.seq))
    return fail("bad seq");
  long long lease = 0;
  if (!parseUnsigned(origin.attribute("lease").value(), lease) || lease < config::kMinTtl.count() ||
      lease > config::kMaxTtl.count()) {
    return fail("lease '" + std::string(origin.attribute("lease").value()) +
                "' is not 5 to 86400 seconds");
  }
  r.lease = std::chrono::seconds(lease);

  std::size_t origins = 0;
  std::size_t bodies = 0;
  for (const pugi::xml_node& child : root.children()) {
    std::string_view name = child.name();
    if (name == "origin") {
      ++origins;
      continue;
    }
    ++bodies;
    if (r.kind == RecordKind::Service && name == "service") {
      if (Status s = parseService(child, r.service); !s)
        return fail(s.error());
    } else if (r.kind == RecordKind::Withdrawn && name == "withdrawn") {
      if (Status s = checkAttributes(child, {"name", "type", "domain"}, {"name", "type", "domain"});
          !s) {
        return fail(s.error());
      }
      if (child.first_child())
        return fail("<withdrawn> must be empty");
      if (Status s = parseServiceKey(child, r.service.key); !s)
        return fail(s.error());
    } else {
      return fail("a " + std::string(kind) + " record cannot contain <" + std::string(name) + ">");
    }
  }
  std::size_t expected = r.kind == RecordKind::Heartbeat ? 0 : 1;
  if (origins != 1 || bodies != expected) {
    return fail("a " + std::string(kind) + " record needs one <origin> and " +
                std::to_string(expected) + " service element(s)");
  }
  return r;
}

}  // namespace z2z::bridge
