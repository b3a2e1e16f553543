// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/groups/document.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <pugixml.hpp>
#include <sstream>

#include "z2z/config/encoding.hpp"
#include "z2z/config/options.hpp"
#include "z2z/groups/crypto.hpp"

namespace z2z::groups {
namespace {

constexpr std::string_view kRoot = "group_management";
constexpr std::string_view kSchema = "1";
constexpr std::string_view kSigningContext = "z2z group-management signature v1\n";

bool parseUnsigned(std::string_view text, std::uint64_t& out) {
  if (text.empty() || text.size() > 20 || (text.size() > 1 && text[0] == '0'))
    return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

bool isAddressLiteral(const std::string& text) {
  unsigned char buf[16];
  return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

// Appends the XML body of `doc` to `root`; the signature only if `withSignature`.
void build(pugi::xml_node root, const Document& doc, bool withSignature) {
  root.append_attribute("type") = typeName(doc.type);
  root.append_attribute("schema") = std::string(kSchema).c_str();
  auto text = [&](const char* name, const std::string& value) {
    root.append_child(name).text() = value.c_str();
  };
  text("name", doc.name);
  text("version", std::to_string(doc.version));
  text("expires", std::to_string(doc.expires));
  text("status", doc.status == DocStatus::Active ? "active" : "removed");
  if (doc.type == DocType::Membership)
    text("since", std::to_string(doc.since));
  if (doc.type == DocType::Alias)
    text("target", doc.target);
  for (const BootstrapEndpoint& ep : doc.endpoints) {
    text("bootstrap-address", ep.address);
    text("bootstrap-port", std::to_string(ep.port));
  }
  if (!doc.description.empty())
    text("description", doc.description);
  for (const std::string& k : doc.memberKeys)
    text("member-key", base64Encode(k));
  text("signer", base64Encode(doc.signer));
  if (withSignature)
    text("signature", base64Encode(doc.signature));
}

std::string render(const Document& doc, bool withSignature) {
  pugi::xml_document xml;
  build(xml.append_child(std::string(kRoot).c_str()), doc, withSignature);
  std::ostringstream out;
  xml.save(out, "  ", pugi::format_indent | pugi::format_no_declaration);
  return out.str();
}

// Walks the root's children in schema order.
class Cursor {
 public:
  explicit Cursor(pugi::xml_node root) : node_(root.first_child()) {}

  // The text of the next element if it is called `name`; nullptr if the next is not.
  Result<const char*> take(std::string_view name) {
    if (!node_ || name != node_.name())
      return static_cast<const char*>(nullptr);
    pugi::xml_node n = node_;
    node_ = node_.next_sibling();
    if (n.first_attribute())
      return fail("<" + std::string(name) + "> has attributes");
    pugi::xml_node child = n.first_child();
    if (child && (child.type() != pugi::node_pcdata || child.next_sibling())) {
      return fail("<" + std::string(name) + "> must contain only text");
    }
    return n.text().get();
  }

  Result<std::string> need(std::string_view name) {
    auto t = take(name);
    if (!t)
      return fail(t.error());
    if (*t == nullptr) {
      return fail(
          "<" + std::string(name) + "> expected" +
          (node_ ? ", found <" + std::string(node_.name()) + ">" : std::string(" at the end")));
    }
    return std::string(*t);
  }

  bool atEnd() const { return !node_; }
  std::string next() const { return node_.name(); }

 private:
  pugi::xml_node node_;
};

Result<std::uint64_t> needNumber(Cursor& c, std::string_view name) {
  auto t = c.need(name);
  if (!t)
    return fail(t.error());
  std::uint64_t v = 0;
  if (!parseUnsigned(*t, v))
    return fail("<" + std::string(name) + "> '" + *t + "' is not a number");
  return v;
}

Result<std::string> needKey(Cursor& c, std::string_view name, std::size_t size) {
  auto t = c.need(name);
  if (!t)
    return fail(t.error());
  auto raw = base64Decode(*t);
  if (!raw || raw->size() != size) {
    return fail("<" + std::string(name) + "> is not base64 of " + std::to_string(size) + " bytes");
  }
  return *raw;
}

}  // namespace

const char* typeName(DocType type) {
  switch (type) {
    case DocType::GroupInfo:
      return "group-info";
    case DocType::Membership:
      return "membership";
    case DocType::Alias:
      return "alias";
  }
  return "?";
}

bool isGroupName(std::string_view name) {
  return config::isGroupName(name);
}

std::string encodeDocument(const Document& doc) {
  return std::string(kHeader) + render(doc, true);
}

std::string signingInput(const Document& doc) {
  return std::string(kSigningContext) + render(doc, false);
}

void signDocument(Document& doc, const Identity& identity) {
  doc.signer = identity.publicKey();
  doc.signature = identity.sign(signingInput(doc));
}

bool verifyDocument(const Document& doc) {
  return verifySignature(doc.signer, signingInput(doc), doc.signature);
}

Result<Document> decodeDocument(std::string_view bytes) {
  if (bytes.size() > kMaxDocumentSize) {
    return fail("document of " + std::to_string(bytes.size()) + " bytes exceeds the limit of " +
                std::to_string(kMaxDocumentSize));
  }
  if (!bytes.starts_with(kHeader))
    return fail("no 'GROUP-MANAGEMENT:' header line");
  bytes.remove_prefix(kHeader.size());
  pugi::xml_document xml;
  pugi::xml_parse_result parsed = xml.load_buffer(
      bytes.data(), bytes.size(), pugi::parse_default | pugi::parse_comments | pugi::parse_pi,
      pugi::encoding_utf8);
  if (!parsed) {
    return fail(std::string("not XML: ") + parsed.description() + " at offset " +
                std::to_string(parsed.offset));
  }
  pugi::xml_node root;
  for (const pugi::xml_node& n : xml.children()) {
    if (n.type() != pugi::node_element || root) {
      return fail("the document is not a single <group_management> element");
    }
    root = n;
  }
  if (!root || kRoot != root.name())
    return fail("the root element is not <group_management>");
  for (const pugi::xml_attribute& a : root.attributes()) {
    std::string_view n = a.name();
    if (n != "type" && n != "schema") {
      return fail("<group_management> has an unknown attribute '" + std::string(n) + "'");
    }
  }
  if (kSchema != root.attribute("schema").value()) {
    return fail("unsupported schema '" + std::string(root.attribute("schema").value()) + "'");
  }
  for (const pugi::xml_node& n : root.children()) {
    if (n.type() != pugi::node_element) {
      return fail("<group_management> contains text or other non-element content");
    }
  }

  Document d;
  std::string_view type = root.attribute("type").value();
  if (type == "group-info") {
    d.type = DocType::GroupInfo;
  } else if (type == "membership") {
    d.type = DocType::Membership;
  } else if (type == "alias") {
    d.type = DocType::Alias;
  } else {
    return fail("unknown document type '" + std::string(type) + "'");
  }
  Cursor c(root);
  auto name = c.need("name");
  if (!name)
    return fail(name.error());
  if (!isGroupName(*name))
    return fail("name '" + *name + "' is not a group name");
  d.name = *name;
  auto version = needNumber(c, "version");
  if (!version)
    return fail(version.error());
  if (*version == 0)
    return fail("<version> must be positive");
  d.version = *version;
  auto expires = needNumber(c, "expires");
  if (!expires)
    return fail(expires.error());
  d.expires = *expires;
  auto status = c.need("status");
  if (!status)
    return fail(status.error());
  if (*status == "active") {
    d.status = DocStatus::Active;
  } else if (*status == "removed") {
    d.status = DocStatus::Removed;
  } else {
    return fail("<status> '" + *status + "' is not active or removed");
  }
  bool active = d.status == DocStatus::Active;
  if (d.type == DocType::Membership) {
    auto since = needNumber(c, "since");
    if (!since)
      return fail(since.error());
    d.since = *since;
  }
  if (d.type == DocType::Alias) {
    auto target = c.need("target");
    if (!target)
      return fail(target.error());
    if (!isGroupName(*target))
      return fail("target '" + *target + "' is not a group name");
    if (*target == d.name)
      return fail("an alias cannot name itself");
    d.target = *target;
  }
  while (true) {
    auto address = c.take("bootstrap-address");
    if (!address)
      return fail(address.error());
    if (*address == nullptr)
      break;
    if (d.type == DocType::Alias)
      return fail("an alias has no bootstrap endpoints");
    if (d.endpoints.size() >= kMaxEndpoints)
      return fail("more than 16 bootstrap endpoints");
    BootstrapEndpoint ep;
    ep.address = *address;
    if (!isAddressLiteral(ep.address)) {
      return fail("bootstrap address '" + ep.address + "' is not an IP address");
    }
    auto port = needNumber(c, "bootstrap-port");
    if (!port)
      return fail(port.error());
    if (*port == 0 || *port > 65535)
      return fail("bootstrap port out of range 1-65535");
    ep.port = static_cast<std::uint16_t>(*port);
    d.endpoints.push_back(ep);
  }
  if (d.type != DocType::Alias) {
    if (active && d.endpoints.empty())
      return fail("an active document needs a bootstrap endpoint");
    if (!active && !d.endpoints.empty())
      return fail("a removed document lists no endpoints");
  }
  auto description = c.take("description");
  if (!description)
    return fail(description.error());
  if (*description != nullptr) {
    if (d.type != DocType::GroupInfo)
      return fail("only group-info has a <description>");
    d.description = *description;
    if (d.description.empty() || d.description.size() > kMaxDescription ||
        !isCleanUtf8(d.description)) {
      return fail("<description> must be 1 to 256 bytes of printable UTF-8");
    }
  }
  while (!c.atEnd() && c.next() == "member-key") {
    if (d.type != DocType::GroupInfo)
      return fail("only group-info lists <member-key>s");
    if (d.memberKeys.size() >= kMaxMemberKeys)
      return fail("more than 32 member keys");
    auto k = needKey(c, "member-key", kPublicKeySize);
    if (!k)
      return fail(k.error());
    d.memberKeys.push_back(*k);
  }
  if (d.type == DocType::GroupInfo) {
    if (active && d.memberKeys.empty())
      return fail("an active group-info needs a <member-key>");
    if (!active && !d.memberKeys.empty())
      return fail("a removed group-info lists no members");
  }
  auto signer = needKey(c, "signer", kPublicKeySize);
  if (!signer)
    return fail(signer.error());
  d.signer = *signer;
  auto signature = needKey(c, "signature", kSignatureSize);
  if (!signature)
    return fail(signature.error());
  d.signature = *signature;
  if (!c.atEnd())
    return fail("unexpected <" + c.next() + "> after <signature>");
  return d;
}

}  // namespace z2z::groups
