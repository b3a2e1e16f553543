// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace z2z::mdns {

class EventLoop;

/// Entry groups of raw records, published through avahi-daemon's D-Bus interface without
/// waiting for each reply.
///
/// avahi-client makes every call synchronously, and avahi-daemon handles one D-Bus message per
/// iteration of its main loop, after whatever else is due then (announcements, responses). Under
/// load every call waited for a round of the daemon's other work: a thousand imported services,
/// five calls each, took seconds to publish. Here the calls of many groups are in flight at once
/// and the daemon handles them back to back.
///
/// Calls on one connection reach the daemon in the order they were made. A group that replaces
/// others goes on the connection of one of them, after its Free, and waits for the answers to
/// the Frees sent on other connections, so that the daemon never sees the same unique records
/// twice. When the bus or avahi-daemon goes away the owner calls reset(). Loop thread only;
/// the event callback runs inside the D-Bus dispatch.
///
/// The daemon answers queries for the records but does not announce them: an Announcer sends
/// the announcements as soon as a group is published and the goodbyes once the daemon has
/// freed it (see announcer.hpp for why). Where this process cannot send from the mDNS port,
/// the daemon announces, as for any entry group.
///
/// The same connections carry the lookups that follow the link for as long as they live: a
/// service resolver that reports a service again whenever its SRV or TXT record changes, and
/// record browsers (a host's addresses). Created and freed with avahi-client, each took a call
/// that blocked our loop until the daemon answered; when it was busy with a burst that was up to
/// 1.5 s for one call (perf trace of the exporting gateway in scale.sh). The daemon counts
/// groups and lookups together against its limit of objects per client.
class EntryGroups {
 public:
  /// One resource record; iface, protocol and flags are Avahi's (AvahiIfIndex, AvahiProtocol,
  /// AvahiPublishFlags), class IN.
  struct Record {
    int iface = -1;
    int protocol = -1;
    std::uint32_t flags = 0;
    std::string name;
    std::uint16_t type = 0;
    std::uint32_t ttl = 0;
    std::vector<std::uint8_t> rdata;
  };

  /// A group; 0 is none.
  using Handle = std::uint64_t;

  enum class Event {
    Committed,  ///< the daemon has the records
    Collision,  ///< another host holds a unique record of the group
    Failure,    ///< a call failed or the daemon gave up on the group; `error` says why
  };
  /// What became of a group.
  using EventCallback = std::function<void(Handle, Event, const std::string& error)>;

  EntryGroups(EventLoop& loop, EventCallback events);
  ~EntryGroups();
  EntryGroups(const EntryGroups&) = delete;
  EntryGroups& operator=(const EntryGroups&) = delete;

  /// Creates a group holding `records` and commits it; `label` names it in log messages.
  /// `replacing` are freed first, and the new group goes on the first one's connection. Returns
  /// 0, having logged why, when the system bus cannot be reached.
  Handle publish(std::vector<Record> records, std::string label,
                 std::vector<Handle> replacing = {});

  /// Opens connections to the system bus ahead of need (publish() opens one when all are full,
  /// and the loop then waits for the bus). Call when avahi-daemon is running.
  void prepare();

  /// Withdraws the group's records (goodbye packets) and frees it.
  void free(Handle group);

  /// Forgets every group, says goodbye for their records and closes the connections (the daemon
  /// frees what a closed connection owned). For a daemon that went away, and before a rebuild.
  void reset();

  /// The daemon uses this interface (AvahiIfIndex) for this protocol (AvahiProtocol): it
  /// reported a browse result there. Announcements for records on every interface go only
  /// where the daemon is.
  void useInterface(int iface, int protocol);

  /// Groups created and not freed.
  std::size_t size() const;

  // ---- lookups ---------------------------------------------------------------------------------

  /// What a service resolver found (SRV and TXT; it looks up no address), or why it failed.
  struct ServiceFound {
    std::string error;  ///< empty when found
    int iface = -1;     ///< AvahiIfIndex
    int protocol = -1;  ///< AvahiProtocol
    std::string host;
    std::uint16_t port = 0;
    /// TXT strings in the order the daemon sends them, empty ones left out (as avahi-client
    /// reads them).
    std::vector<std::string> txt;
  };
  using ServiceCallback = std::function<void(Handle, const ServiceFound&)>;

  /// What a record browser reports.
  struct RecordEvent {
    enum class Kind { New, Remove, AllForNow, CacheExhausted, Failure } kind = Kind::Failure;
    int iface = -1;     ///< AvahiIfIndex (New, Remove)
    int protocol = -1;  ///< AvahiProtocol (New, Remove)
    std::uint16_t type = 0;
    std::vector<std::uint8_t> rdata;
    std::string error;  ///< Failure
  };
  using RecordCallback = std::function<void(Handle, const RecordEvent&)>;

  /// Starts a service resolver that stays (iface and protocol as Avahi's) and reports each
  /// version of the service it finds, until freeLookup(). A failure is reported once, and the
  /// lookup is over then (free it all the same). Returns 0, having logged why, when the system
  /// bus cannot be reached or the names cannot be sent. Callbacks run inside the D-Bus
  /// dispatch and may free any lookup, their own too.
  Handle resolveService(int iface, int protocol, const std::string& name, const std::string& type,
                        const std::string& domain, ServiceCallback callback);

  /// Starts a browser of the records of `name` with this type (class IN), as resolveService().
  Handle browseRecords(int iface, int protocol, const std::string& name, std::uint16_t type,
                       RecordCallback callback);

  /// Ends a lookup: its callback does not run again. reset() ends every lookup.
  void freeLookup(Handle lookup);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace z2z::mdns
