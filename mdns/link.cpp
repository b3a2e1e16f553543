// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/mdns/link.hpp"

#include <avahi-client/client.h>
#include <avahi-client/lookup.h>
#include <avahi-common/alternative.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>
#include <net/if.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "z2z/config/error.hpp"
#include "z2z/config/guard.hpp"
#include "z2z/config/log.hpp"
#include "z2z/mdns/dns_wire.hpp"
#include "z2z/mdns/entry_groups.hpp"
#include "z2z/mdns/link_watch.hpp"

namespace z2z::mdns {
namespace {

constexpr std::string_view kTag = "mdns";

// avahi-daemon refuses more than objects-per-client-max (default 1024) browsers, resolvers and
// entry groups on one client; past this many the Link opens another client connection.
constexpr int kObjectsPerClient = 900;
// How long publishing waits for a new type's browser to list the names already on the link.
// Avahi says ALL_FOR_NOW after about a second; responders answer a PTR query within 20-120 ms
// (RFC 6762 section 6), so half a second hears every ordinary link without making the first
// import of a type wait the full second.
constexpr std::chrono::milliseconds kTypeReadyTimeout{500};
// How long a newly resolved service waits for its host's address watch to deliver the daemon's
// cache (both browsers' CACHE_EXHAUSTED) before it is reported with the addresses known then.
// The browsers are created without waiting, and a busy daemon answers one D-Bus call per turn
// of its loop: in a burst the AAAA browser's answer came over 100 ms after the A browser's, and
// services reported with one address and again with two were exported twice. Normally the cache
// is delivered within milliseconds, and a host's later services find it complete.
constexpr std::chrono::milliseconds kAddressWait{2000};
// A service that does not resolve is tried again after kResolveRetry; one of a type the Link only
// imports, after twice the last wait each time, up to kResolveRetryMax (and after kResolveRetry
// again when it is seen anew): a host that announced names it then never answered for (one
// unplugged, or one making names up) would otherwise keep the daemon resolving them for the
// records' 75 minutes. 5,000 made-up names kept avahi-daemon at 60 % of a core.
constexpr std::chrono::milliseconds kResolveRetry{5000};
constexpr std::chrono::milliseconds kResolveRetryMax{600000};
// Services of types this Link only imports are resolved (to tell an import that is at home on
// this link) at most this many at once; the others wait their turn.
constexpr std::size_t kMaxImportedTypeResolvers = 32;
// Failures to resolve are logged at most this many times per kRefusalReport; the rest are
// counted, and the count logged.
constexpr int kResolveWarningsPerReport = 8;
// A service is resolved once at once, from the daemon's cache, and that resolver is freed
// before its queries go out (avahi-daemon waits 100 ms to gather questions). The resolver that
// then follows the service's changes (TXT updates, a new port) starts kFollowDelay later, at
// most kFollowsPerTick every kFollowTick: its SRV and TXT queries, each with its known answers,
// are sent again and again (1 s, 2 s, 4 s...), and for a burst of a thousand new services they
// kept both daemons of this link busy while the burst was still being carried.
//
// For an exported type, the first resolution is what the link said of the service, its SRV and
// TXT records as LinkWatch heard them (describedByLink). Only a service the link did not describe
// in time (kDescribeWait), where LinkWatch cannot listen, or of a type this Link only imports, is
// resolved once with avahi-client, a call that waits for the daemon: in a burst that call held
// our loop up to 1.8 s, while the burst's announcements waited in LinkWatch's socket
// (BENCHMARKS.md, "Exports heard on the link"). Made only asynchronous (74f236e, see
// BENCHMARKS.md), the first resolutions released a burst in clusters and the other link resolved
// all of it later; described by the link, the exports keep the link's own pace. The resolvers
// that stay, and the address watches, are created and freed without waiting (EntryGroups'
// lookups): a busy daemon kept our loop waiting up to 1.5 s for one of them, and a thousand
// withdrawals meant a thousand frees.
constexpr std::chrono::milliseconds kFollowDelay{5000};
// A new service of an exported type is exported as soon as LinkWatch hears its PTR record with
// its SRV and TXT, not when the daemon's browser lists it: a daemon busy with a burst listed
// services 0.2-0.4 s after their announcement (BENCHMARKS.md, "Exports heard on the link"). The
// browser confirms each within kConfirmWait (announcements go out 0, 1 and 3 s after probing,
// RFC 6762 section 8.3), or it is withdrawn again: the daemon's view is the one that counts.
constexpr std::chrono::seconds kConfirmWait{10};
// ... and then it is exported again only once the browser lists it, for this long: a daemon whose
// cache is full (cache-entries-max) lists no new service, and each answer heard from its host
// would otherwise export it for kConfirmWait again.
constexpr std::chrono::minutes kNotListedFor{10};
// A service the browser lists before its SRV and TXT records have been heard waits this long for
// them before it gets a resolver: a responder fills each datagram of a burst with records in
// order, so a PTR record often ends one datagram and its SRV and TXT begin the next, tens of
// milliseconds later, and avahi-daemon 0.8 sent some of a burst's PTR records 0.6 s before their
// SRV and TXT. A resolver would learn nothing sooner, and hold our loop (above).
constexpr std::chrono::milliseconds kDescribeWait{1000};
constexpr std::chrono::milliseconds kFollowTick{100};
constexpr int kFollowsPerTick = 2;
constexpr std::chrono::milliseconds kReconnectDelay{1000};
constexpr std::uint32_t kTtlHost = 120;      // Avahi's AVAHI_DEFAULT_TTL_HOST_NAME
constexpr std::uint32_t kTtlService = 4500;  // Avahi's AVAHI_DEFAULT_TTL
constexpr int kMaxRenames = 32;
// How long a name this Link withdrew may still be listed by the daemon without being taken.
constexpr std::chrono::seconds kWithdrawnLinger{10};
// A type this gateway only imports is followed by listening once its browser has found what was
// on the link (LinkWatch). A service found by that browser stays known this long unless the link
// says more about it: the TTL of an avahi-daemon's PTR record (Avahi's AVAHI_DEFAULT_TTL).
constexpr std::chrono::seconds kFoundLease{4500};
// Such a type is browsed again this often, so that a service no host asks about (nothing then
// refreshes its records on the link) is confirmed before its lease runs out. The daemon answers
// that browser with every import of the type, once an hour.
constexpr std::chrono::seconds kRelist{3600};
// ... and this long after LinkWatch lost datagrams.
constexpr std::chrono::seconds kRelistAfterLoss{10};
// Services of one type the Link keeps track of, at most: avahi-daemon's own cache-entries-max.
// Names heard on the link past it are ignored: a host announcing random names would otherwise
// make the Link keep them for kFoundLease and resolve each, with a blocking D-Bus call.
constexpr std::size_t kMaxBrowsedPerType = 4096;
constexpr std::chrono::seconds kRefusalReport{60};
// A type whose browser could not be created, or failed, is browsed again this much later.
constexpr std::chrono::seconds kBrowseRetry{30};
// Withdrawals are paced: at most kFreesPerWindow entry groups freed per kFreeWindow. avahi-daemon
// 0.8 loses goodbye packets when a thousand groups are freed within a second (measured with
// tests/bench/scale.sh: a third of the withdrawn names stayed in every cache on the link until
// their TTL ran out); at 400 per second every goodbye arrives.
constexpr std::chrono::milliseconds kFreeWindow{100};
constexpr int kFreesPerWindow = 40;

constexpr std::uint16_t kTypeA = 1;
constexpr std::uint16_t kTypeAaaa = 28;

std::string avahiError(AvahiClient* client) {
  return client ? avahi_strerror(avahi_client_errno(client)) : "no client";
}

// TXT data in wire order, whatever order the string list keeps internally.
std::vector<std::string> txtStrings(AvahiStringList* list) {
  std::size_t size = avahi_string_list_serialize(list, nullptr, 0);
  wire::Bytes buf(size);
  avahi_string_list_serialize(list, buf.data(), buf.size());
  auto strings = wire::parseTxtRdata(buf);
  return strings ? *strings : std::vector<std::string>{};
}

// The same from the strings of a D-Bus answer, read into a list as avahi-client reads them.
std::vector<std::string> txtStrings(const std::vector<std::string>& strings) {
  AvahiStringList* list = nullptr;
  for (const std::string& s : strings) {
    list = avahi_string_list_add_arbitrary(list, reinterpret_cast<const std::uint8_t*>(s.data()),
                                           s.size());
  }
  std::vector<std::string> out = txtStrings(list);
  avahi_string_list_free(list);
  return out;
}

// Whether this avahi-daemon passes TXT strings over D-Bus in the reverse of their order on the
// wire: every release up to 0.8 does (avahi issue #436, fixed after 0.8 by pull request #866).
// "avahi 0.8" is what avahi_client_get_version_string says.
bool reversesTxt(const char* version) {
  int major = 0;
  int minor = 0;
  if (version == nullptr || std::sscanf(version, "avahi %d.%d", &major, &minor) != 2)
    return true;  // as Debian 12's 0.8
  return major == 0 && minor <= 8;
}

}  // namespace

struct Link::Impl {
  struct Slot {
    AvahiClient* client = nullptr;
    int objects = 0;
    bool running = false;
  };

  struct Sighting {
    AvahiIfIndex iface;
    AvahiProtocol proto;
    auto operator<=>(const Sighting&) const = default;
  };

  struct TypeBrowse {
    std::string type;
    std::vector<std::pair<AvahiServiceBrowser*, int>> browsers;  // with their slot
    int waitingAllForNow = 0;
    bool ready = false;   // publishing need not wait for the browser any more
    bool listed = false;  // the browser has listed the daemon's cache (ALL_FOR_NOW) since a start
    std::unique_ptr<EventLoop::Timer> readyTimer;
    bool exported = false;                     // browse() asked for it: its services are reported
    bool listening = false;                    // followed through LinkWatch, no browser of its own
    std::unique_ptr<EventLoop::Timer> relist;  // when to list it again (kRelist)
  };

  struct HostWatch {
    AvahiIfIndex iface = AVAHI_IF_UNSPEC;
    std::string host;
    std::vector<EntryGroups::Handle> browsers;  // A and AAAA
    std::set<Address> addresses;
    int refs = 0;
    int exhausted = 0;  // browsers that have delivered the daemon's cache
    bool complete() const { return exhausted >= static_cast<int>(browsers.size()); }
  };

  struct Browsed {
    ServiceKey key;
    bool counted = false;  // in browsedPerType: someone else's service, not our own import
    std::set<Sighting> sightings;
    AvahiServiceResolver* resolver = nullptr;  // the first resolution
    int resolverSlot = -1;
    bool importedType = false;         // the resolver counts in importedTypeResolvers
    EntryGroups::Handle follower = 0;  // the resolver that stays (kFollowDelay)
    bool followQueued = false;         // in followQueue
    bool resolved = false;
    // Seen only as one of our own imports: records that linger in the daemon's cache after the
    // import went (until the goodbye has passed) are no other host's service.
    bool ownImport = false;
    Service service;      // as resolved, addresses from the host watch
    std::string hostKey;  // into hosts
    bool reported = false;
    Service lastReported;
    std::unique_ptr<EventLoop::Timer> retry;
    std::chrono::milliseconds retryDelay{0};  // the last wait after a failure (backoff)
    bool resolveQueued = false;               // in resolveQueue
    bool awaitingDescription = false;         // in describeQueue (kDescribeWait)
    std::unique_ptr<EventLoop::Timer> addressWait;

    // On the link, with no first resolution and no follower running for it.
    bool needsResolver() const {
      return !sightings.empty() && resolver == nullptr && follower == 0;
    }
  };

  struct Published {
    std::string id;
    Service service;        // as asked
    std::string name;       // as on the link now
    std::string homeHost;   // the host the service came from
    bool atHome = false;    // the service is on this link from its own host: not published
    std::uint32_t ttl = 0;  // record TTL override (advertise()); 0: Avahi's defaults
    bool ownHost = false;   // a service of this host: its address records are the daemon's
    EntryGroups::Handle group = 0;
    int renames = 0;
    bool waiting = false;  // for its type's browser to be ready
  };

  struct HostGroup {
    EntryGroups::Handle group = 0;
    std::vector<Address> addresses;
    std::set<std::string> users;
  };

  EventLoop& loop;
  LinkEvents events;
  // Everything published, services a thousand at a time, and the lookups that stay; browsing and
  // first resolutions go through avahi-client.
  EntryGroups entryGroups;
  std::vector<AvahiIfIndex> ifaces;
  std::vector<Slot> slots;
  bool running = false;
  bool reconnectPending = false;
  bool txtReversed = true;  // the daemon's TXT strings come in reverse wire order (reversesTxt)
  // Work posted to the loop checks it: a Link may be destroyed (a reload) before the loop runs it.
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
  std::unique_ptr<EventLoop::Timer> reconnect;
  std::map<std::string, TypeBrowse> types;
  LinkWatch watch;
  // For a type that is not exported: when each sighting, heard by LinkWatch or listed by the
  // type's browser, runs out unless heard of or listed again.
  std::map<std::pair<ServiceKey, Sighting>, std::chrono::steady_clock::time_point> heardUntil;
  // Services of exported types heard on the link that the browser did not list (kNotListedFor).
  std::map<ServiceKey, std::chrono::steady_clock::time_point> notListed;
  std::unique_ptr<EventLoop::Timer> expiry;
  std::chrono::steady_clock::time_point expiryDue{};
  std::unique_ptr<EventLoop::Timer> relistAll;  // after LinkWatch lost datagrams
  std::chrono::milliseconds lossDelay{kRelistAfterLoss};
  std::chrono::steady_clock::time_point lastLoss{};
  std::map<ServiceKey, Browsed> browsed;
  std::map<std::string, HostWatch> hosts;
  std::map<std::string, std::size_t> browsedPerType;  // entries of `browsed` by type
  std::chrono::steady_clock::time_point lastRefusal{};
  std::map<ServiceKey, std::string> publishedNames;  // name on the link -> id (publishedAs)
  // Names this Link withdrew, and when: the daemon may list them for a while after (see
  // nameTaken()).
  std::map<ServiceKey, std::chrono::steady_clock::time_point> withdrawnNames;
  std::map<std::string, Published> published;
  // The published service of each group (onGroup() is called for every group a burst hands to
  // the daemon, and a scan of `published` for each was a tenth of that work). setGroup() keeps it.
  std::unordered_map<EntryGroups::Handle, std::string> groupOwners;
  std::map<std::string, HostGroup> hostGroups;

  // The service type enumeration record (RFC 6763 section 9), one per type and domain in a group
  // of its own: in every service's group, avahi-daemon announced a thousand identical copies and
  // added all of the type's services to each as additional records, and was busy for seconds.
  struct TypeGroup {
    EntryGroups::Handle group = 0;
    std::set<std::string> users;
  };
  std::map<std::pair<std::string, std::string>, TypeGroup> typeGroups;  // (type, domain)

  // Entry groups withdrawn but not yet freed (see kFreesPerWindow), oldest first.
  struct PendingFree {
    EntryGroups::Handle group = 0;
    std::string name;  // instance name on the link, and type
    std::string type;
  };
  std::deque<PendingFree> pendingFrees;
  std::unique_ptr<EventLoop::Timer> freeTimer;
  std::chrono::steady_clock::time_point freeWindowStart{};
  int freesInWindow = 0;
  // Services resolved once, waiting for the resolver that stays, in order of when it is due.
  std::deque<std::pair<std::chrono::steady_clock::time_point, ServiceKey>> followQueue;
  std::deque<std::pair<std::chrono::steady_clock::time_point, ServiceKey>> describeQueue;
  // Services of imported-only types waiting for a resolver (kMaxImportedTypeResolvers).
  std::deque<ServiceKey> resolveQueue;
  std::size_t importedTypeResolvers = 0;
  // Resolution failures logged, and left unlogged, since resolveWarningsFrom.
  std::chrono::steady_clock::time_point resolveWarningsFrom{};
  int resolveWarnings = 0;
  int resolveWarningsDropped = 0;
  std::unique_ptr<EventLoop::Timer> followTimer;
  std::unique_ptr<EventLoop::Timer> describeTimer;

  Impl(EventLoop& l, LinkOptions options, LinkEvents e)
      : loop(l),
        events(std::move(e)),
        entryGroups(l, [this](EntryGroups::Handle g, EntryGroups::Event event,
                              const std::string& error) { onGroup(g, event, error); }),
        watch(
            l,
            [this](const std::string& name, const std::string& type, int ifindex, int family,
                   std::uint32_t ttl) { heard(name, type, ifindex, family, ttl); },
            [this] { relistSoon(); }) {
    expiry = loop.timer([this] { guarded(kTag, "link expiry", [this] { expire(); }); });
    relistAll = loop.timer([this] {
      guarded(kTag, "link relist", [this] {
        for (auto& [type, t] : types)
          relist(type);
      });
    });
    for (const std::string& name : options.interfaces) {
      unsigned index = if_nametoindex(name.c_str());
      if (index == 0)
        throw Error("interface '" + name + "' does not exist");
      ifaces.push_back(static_cast<AvahiIfIndex>(index));
    }
    if (ifaces.empty())
      ifaces.push_back(AVAHI_IF_UNSPEC);
    reconnect = loop.timer([this] { connect(); });
    // Connect from the loop, not from here: the owner's callbacks must not run before the
    // owner has its Link.
    reconnect->arm(std::chrono::milliseconds(0));
  }

  ~Impl() { teardown(); }

  // ---- clients -------------------------------------------------------------------------------

  void connect() {
    teardown();
    int error = 0;
    AvahiClient* c =
        avahi_client_new(loop.avahiPoll(), AVAHI_CLIENT_NO_FAIL, &Impl::clientCb, this, &error);
    if (c == nullptr) {
      log::error(kTag, "cannot create an Avahi client: ", avahi_strerror(error), "; retrying");
      reconnect->arm(kReconnectDelay);
      return;
    }
    slots.push_back(Slot{c, 0, avahi_client_get_state(c) == AVAHI_CLIENT_S_RUNNING});
    if (slots.front().running && !running)
      becomeRunning();
  }

  static void clientCb(AvahiClient* c, AvahiClientState state, void* self) {
    guarded(kTag, "client state", [&] { static_cast<Impl*>(self)->onClientState(c, state); });
  }

  void onClientState(AvahiClient* c, AvahiClientState state) {
    auto slot =
        std::find_if(slots.begin(), slots.end(), [c](const Slot& s) { return s.client == c; });
    switch (state) {
      case AVAHI_CLIENT_S_RUNNING:
        if (slot != slots.end())
          slot->running = true;
        // The first client is the one that tells: extra clients follow it.
        if (!running && (slot == slots.begin() || slot == slots.end())) {
          // becomeRunning() needs the slot recorded; connect() calls it when we are inside
          // avahi_client_new and the slot does not exist yet.
          if (slot != slots.end())
            becomeRunning();
        }
        break;
      case AVAHI_CLIENT_FAILURE:
        log::warning(kTag, "avahi-daemon connection lost: ", avahi_strerror(avahi_client_errno(c)),
                     "; waiting for it to return");
        // Freeing a client inside its own callback is allowed, but the other objects' callbacks
        // may still be on the stack: leave it to the loop.
        if (reconnectPending)
          break;
        reconnectPending = true;
        loop.post([this, alive = std::weak_ptr<bool>(alive)] {
          if (!alive.lock())
            return;
          reconnectPending = false;
          if (running) {
            running = false;
            if (events.daemon)
              events.daemon(false);
          }
          connect();
        });
        break;
      case AVAHI_CLIENT_CONNECTING:
        log::notice(kTag, "waiting for avahi-daemon");
        break;
      case AVAHI_CLIENT_S_REGISTERING:
      case AVAHI_CLIENT_S_COLLISION:
        // The daemon is renaming its own host; our objects stay valid.
        break;
    }
  }

  // Frees every Avahi object, keeping what we want to browse and publish for the rebuild.
  void teardown() {
    // Closing the connections frees every service group in the daemon.
    pendingFrees.clear();
    followQueue.clear();
    describeQueue.clear();
    describeTimer.reset();
    entryGroups.reset();
    for (auto& [_, t] : types) {
      for (auto& [b, slot] : t.browsers)
        avahi_service_browser_free(b);
      t.browsers.clear();
      t.ready = false;
      t.listed = false;
      t.waitingAllForNow = 0;
      t.readyTimer.reset();
      t.listening = false;  // browsed again when the daemon is back
      t.relist.reset();
      watch.unwatch(t.type);
      watch.undescribe(t.type);
    }
    heardUntil.clear();
    notListed.clear();
    for (auto& [_, b] : browsed) {
      if (b.resolver)
        avahi_service_resolver_free(b.resolver);
      b.resolver = nullptr;
      b.resolverSlot = -1;
      b.follower = 0;  // entryGroups.reset() ended it
      b.followQueued = false;
      b.awaitingDescription = false;
      b.sightings.clear();
      b.retry.reset();
      b.retryDelay = std::chrono::milliseconds(0);
      b.importedType = false;
      b.resolveQueued = false;
      b.hostKey.clear();
    }
    importedTypeResolvers = 0;
    resolveQueue.clear();
    hosts.clear();  // entryGroups.reset() ended their browsers, and watchDaemonInterfaces()'s
    for (auto& [_, p] : published)
      p.group = 0;
    groupOwners.clear();
    for (auto& [_, g] : hostGroups)
      g.group = 0;
    for (auto& [_, g] : typeGroups)
      g.group = 0;
    for (Slot& s : slots)
      avahi_client_free(s.client);
    slots.clear();
  }

  void becomeRunning() {
    running = true;
    txtReversed = reversesTxt(avahi_client_get_version_string(slots[0].client));
    entryGroups.prepare();
    watchDaemonInterfaces();
    log::notice(kTag, "connected to avahi-daemon ",
                avahi_client_get_version_string(slots[0].client));
    for (auto& [type, t] : types)
      startBrowsing(t);
    for (auto& [id, p] : published)
      schedulePublish(p);
    if (events.daemon)
      events.daemon(true);
  }

  // A client with room for one more object, opening another connection when all are full.
  int acquireSlot() {
    for (std::size_t i = 0; i < slots.size(); ++i) {
      if (slots[i].running && slots[i].objects < kObjectsPerClient)
        return static_cast<int>(i);
    }
    int error = 0;
    AvahiClient* c =
        avahi_client_new(loop.avahiPoll(), AVAHI_CLIENT_NO_FAIL, &Impl::clientCb, this, &error);
    if (c != nullptr && avahi_client_get_state(c) == AVAHI_CLIENT_S_RUNNING) {
      slots.push_back(Slot{c, 0, true});
      log::info(kTag, "opened Avahi client connection #", slots.size());
      return static_cast<int>(slots.size() - 1);
    }
    if (c != nullptr)
      avahi_client_free(c);
    return 0;  // over the limit on the first client: the daemon may refuse, and we log that
  }

  AvahiClient* client(int slot) { return slots[static_cast<std::size_t>(slot)].client; }
  void retain(int slot) { ++slots[static_cast<std::size_t>(slot)].objects; }
  void release(int slot) {
    if (slot >= 0 && static_cast<std::size_t>(slot) < slots.size()) {
      --slots[static_cast<std::size_t>(slot)].objects;
    }
  }

  // ---- browsing ------------------------------------------------------------------------------

  // `again`: a type followed by listening is listed anew (kRelist); what waits for it to be
  // ready does not wait again.
  void startBrowsing(TypeBrowse& t, bool again = false) {
    if (!again) {
      t.ready = false;
      t.listed = false;
    }
    t.waitingAllForNow = 0;
    if (!t.exported)
      watch.watch(t.type);  // from the start: nothing falls between the browser and listening
    else
      watch.describe(t.type);
    for (AvahiIfIndex iface : ifaces) {
      int slot = acquireSlot();
      AvahiServiceBrowser* b = avahi_service_browser_new(
          client(slot), iface, AVAHI_PROTO_UNSPEC, t.type.c_str(), nullptr,
          static_cast<AvahiLookupFlags>(0), &Impl::browseCb, this);
      if (b == nullptr) {
        log::error(kTag, "cannot browse ", t.type, ": ", avahiError(client(slot)));
        continue;
      }
      retain(slot);
      t.browsers.emplace_back(b, slot);
      ++t.waitingAllForNow;
    }
    if (t.browsers.empty() && !ifaces.empty())
      retryBrowsing(t);
    if (again)
      return;
    t.readyTimer = loop.timer([this, type = t.type] { typeReady(type); });
    t.readyTimer->arm(kTypeReadyTimeout);
  }

  static void browseCb(AvahiServiceBrowser* sb, AvahiIfIndex iface, AvahiProtocol proto,
                       AvahiBrowserEvent event, const char* name, const char* type,
                       const char* domain, AvahiLookupResultFlags, void* self) {
    guarded(kTag, "service browser", [&] {
      static_cast<Impl*>(self)->onBrowse(sb, iface, proto, event, name, type, domain);
    });
  }

  void onBrowse(AvahiServiceBrowser* sb, AvahiIfIndex iface, AvahiProtocol proto,
                AvahiBrowserEvent event, const char* name, const char* type, const char* domain) {
    switch (event) {
      case AVAHI_BROWSER_NEW: {
        entryGroups.useInterface(iface, proto);
        ServiceKey key{name, type, domain};
        Sighting where{iface, proto};
        if (auto t = types.find(type); t != types.end() && !t->second.exported)
          lease(key, where, std::chrono::steady_clock::now() + kFoundLease);
        else
          forgetHeard(key, where);  // the browser follows it
        sighted(key, where);
        break;
      }
      case AVAHI_BROWSER_REMOVE:
        heardUntil.erase({ServiceKey{name, type, domain}, Sighting{iface, proto}});
        unsighted(ServiceKey{name, type, domain}, {iface, proto});
        break;
      case AVAHI_BROWSER_ALL_FOR_NOW: {
        for (auto& [typeName, t] : types) {
          bool mine = std::any_of(t.browsers.begin(), t.browsers.end(),
                                  [sb](const auto& b) { return b.first == sb; });
          if (mine && --t.waitingAllForNow <= 0) {
            listed(t);
            if (!t.exported)
              listenInstead(t);
            break;
          }
        }
        break;
      }
      case AVAHI_BROWSER_CACHE_EXHAUSTED:
        break;
      case AVAHI_BROWSER_FAILURE:
        log::error(kTag,
                   "browsing failed: ", avahiError(slots.empty() ? nullptr : slots[0].client));
        // Not from inside the browser's own callback.
        loop.post([this, sb, alive = std::weak_ptr<bool>(alive)] {
          if (alive.lock())
            browserFailed(sb);
        });
        break;
    }
  }

  // A service of a browsed type is on the link, on this interface and protocol.
  void sighted(const ServiceKey& key, Sighting where) {
    auto [entry, added] = browsed.try_emplace(key);
    Browsed& b = entry->second;
    if (added && publishedAs(key) == nullptr) {
      b.counted = true;
      ++browsedPerType[key.type];
    }
    b.key = key;
    b.sightings.insert(where);
    log::debug(kTag, "browse: new ", describe(key), " on interface ", where.iface, " protocol ",
               where.proto);
    retrySoon(b);  // seen anew (back on the link, or somewhere else)
    // Our own imports come back through the browser too. Everything about them is known
    // already: resolving them kept avahi-daemon (and so every D-Bus call of ours) busy in a
    // burst, and each got a resolver that stays (kFollowDelay). They are known by name:
    // avahi-daemon flags a service local only if its SRV target is the daemon's own host
    // name, which an import's never is. Another host's service of the same name has the
    // same PTR record, so it adds no browse result of its own either way.
    bool first = b.sightings.size() == 1;
    if (const Published* own = publishedAs(key); own != nullptr && !own->ownHost) {
      if (first)
        b.ownImport = true;
      return;
    }
    b.ownImport = false;
    if (b.resolver != nullptr || b.follower != 0 || b.followQueued || (b.retry && b.retry->armed()))
      return;
    // A name we withdrew a moment ago: the daemon lists its own cached copy until the goodbye
    // has passed (a thousand at once after a burst of withdrawals, each resolver costing a
    // blocking D-Bus call). Look again later; if it was only that copy, it is gone by then.
    if (recentlyWithdrawn(key)) {
      scheduleResolveRetry(b, false);
      return;
    }
    if (describedByLink(b))
      return;
    if (exportedType(key) && watch.listening() && key.domain == "local")
      awaitDescription(b);  // the link's records may be on their way
    else
      requestResolver(b);
  }

  void awaitDescription(Browsed& b) {
    b.awaitingDescription = true;
    queueDue(describeQueue, describeTimer, kDescribeWait, b.key, [this] { describeTimedOut(); });
  }

  // `key` is due `delay` from now in `queue`, whose `timer` (calling `fire`) is armed if idle.
  template <typename Fire>
  void queueDue(std::deque<std::pair<std::chrono::steady_clock::time_point, ServiceKey>>& queue,
                std::unique_ptr<EventLoop::Timer>& timer, std::chrono::milliseconds delay,
                const ServiceKey& key, Fire fire) {
    queue.emplace_back(std::chrono::steady_clock::now() + delay, key);
    if (!timer)
      timer = loop.timer(std::move(fire));
    if (!timer->armed())
      timer->arm(delay);
  }

  // A service the daemon lists over IPv6 only, of which nothing was heard in kDescribeWait
  // where LinkWatch listens over IPv4 only: its host announces over IPv6 only (a host on both
  // families is heard over IPv4 by then). LinkWatch listens there over IPv6 from now on, so
  // that the host's next services are not late too.
  void hearIpv6OnlyHosts(const Browsed& b) {
    for (const Sighting& s : b.sightings) {
      if (s.proto != AVAHI_PROTO_INET6 || watch.listening(s.iface, AF_INET6) ||
          !watch.listening(s.iface, AF_INET) || watch.heardOf(b.key.name, b.key.type, s.iface)) {
        return;
      }
    }
    for (const Sighting& s : b.sightings)
      watch.listenIpv6Too(s.iface);
  }

  // The link has not described these in time: resolvers.
  void describeTimedOut() {
    auto now = std::chrono::steady_clock::now();
    while (!describeQueue.empty() && describeQueue.front().first <= now) {
      auto it = browsed.find(describeQueue.front().second);
      describeQueue.pop_front();
      if (it == browsed.end() || !it->second.awaitingDescription)
        continue;
      it->second.awaitingDescription = false;
      if (it->second.needsResolver() && !describedByLink(it->second)) {
        hearIpv6OnlyHosts(it->second);
        requestResolver(it->second);
      }
    }
    if (!describeQueue.empty()) {
      describeTimer->arm(
          std::chrono::ceil<std::chrono::milliseconds>(describeQueue.front().first - now) +
          std::chrono::milliseconds(1));
    }
  }

  // A new service of an exported type as the link described it, SRV and TXT (LinkWatch), so
  // that a burst of them does not wait for a resolver each: avahi-client creates each with a
  // call that waits for a daemon busy with the burst, and each resolver's queries go to the
  // link, whose hosts are still announcing. The resolver that stays confirms it (scheduleFollow).
  // True also if what was read meanwhile ended the service: `b` is gone then, and the caller
  // must not use it.
  bool describedByLink(Browsed& b) {
    auto t = types.find(b.key.type);
    if (t == types.end() || !t->second.exported || b.key.domain != "local")
      return false;
    auto d = heardOn(b);
    if (!d) {
      // The daemon has read the announcement; it waits in our socket still if our loop was held
      // meanwhile, and then many services are listed at once. What is read reaches this Link:
      // a goodbye may end the service (and its announcement, heard again, begin it anew).
      ServiceKey key = b.key;
      watch.readPending();
      auto it = browsed.find(key);
      if (it == browsed.end() || &it->second != &b)
        return true;
      d = heardOn(b);
    }
    if (!d)
      return false;
    log::debug(kTag, "described by the link: ", describe(b.key));
    resolved(b, d->first, d->second.host.c_str(), nullptr, d->second.port,
             std::move(d->second.txt));
    scheduleFollow(b);
    return true;
  }

  // The description heard on the first interface the service is listed on that has one.
  std::optional<std::pair<int, LinkWatch::Description>> heardOn(const Browsed& b) const {
    for (const Sighting& where : b.sightings) {
      if (auto d = watch.described(b.key.name, b.key.type, where.iface))
        return std::make_pair(where.iface, std::move(*d));
    }
    return std::nullopt;
  }

  // It left the link there.
  void unsighted(const ServiceKey& key, Sighting where) {
    auto it = browsed.find(key);
    if (it == browsed.end())
      return;
    it->second.sightings.erase(where);
    if (!it->second.sightings.empty())
      return;
    // What we publish ourselves stays known while we publish it: a loaded avahi-daemon
    // reports it gone and back within a millisecond (seen for the gateway's own advertisement
    // while 1,000 imports were being resolved), and forgetting it would free and re-create
    // its resolver and address watch with D-Bus calls that block, then, for up to 25 s each.
    // Link::unpublish forgets it if no sighting came back.
    if (publishedAs(it->first) != nullptr) {
      log::debug(kTag, "browse: ", describe(it->first), " reported gone while we publish it");
      return;
    }
    forget(it);
  }

  // A failed browser ends: without its ALL_FOR_NOW, the type is ready as far as it goes, and it
  // is browsed again later.
  void browserFailed(AvahiServiceBrowser* sb) {
    for (auto& [typeName, t] : types) {
      auto b = std::find_if(t.browsers.begin(), t.browsers.end(),
                            [sb](const auto& e) { return e.first == sb; });
      if (b == t.browsers.end())
        continue;
      avahi_service_browser_free(b->first);
      release(b->second);
      t.browsers.erase(b);
      if (--t.waitingAllForNow <= 0)
        typeReady(typeName);
      if (t.browsers.empty())
        retryBrowsing(t);
      return;
    }
  }

  void retryBrowsing(TypeBrowse& t) {
    log::notice(kTag, "browsing ", t.type, " again in ", kBrowseRetry.count(), " s");
    if (!t.relist)
      t.relist = loop.timer([this, type = t.type] { relist(type); });
    t.relist->arm(kBrowseRetry);
  }

  // The browser has listed the daemon's cache: after a reconnect, the services we knew and that
  // were not listed again are gone. Only then, not when publishing stops waiting: a daemon just
  // restarted asks the link first, and a service forgotten too early is withdrawn from the DHT
  // and exported again.
  void listed(TypeBrowse& t) {
    if (!t.listed) {
      t.listed = true;
      for (auto b = browsed.begin(); b != browsed.end();) {
        auto next = std::next(b);
        if (b->first.type == t.type && b->second.sightings.empty())
          forget(b);
        b = next;
      }
    }
    typeReady(t.type);
  }

  void typeReady(const std::string& type) {
    auto it = types.find(type);
    if (it == types.end() || it->second.ready)
      return;
    it->second.ready = true;
    it->second.readyTimer.reset();
    for (auto& [id, p] : published) {
      if (p.waiting && p.service.key.type == type) {
        p.waiting = false;
        commitPublished(p);
      }
    }
  }

  // A type this gateway only imports: its browser has listed what is on the link (each for
  // kFoundLease unless the link says otherwise); from now on the link is followed by listening
  // (LinkWatch). A browser of the daemon's would go on asking the link, and
  // the daemon would answer each of its questions with every import of the type. Where this
  // process cannot listen, the browser stays.
  void listenInstead(TypeBrowse& t) {
    if (t.browsers.empty() || !watch.listening())
      return;
    for (auto& [b, slot] : t.browsers) {
      avahi_service_browser_free(b);
      release(slot);
    }
    t.browsers.clear();
    if (!t.listening)
      log::info(kTag, "following ", t.type, " on the link by listening");
    t.listening = true;
    if (!t.relist)
      t.relist = loop.timer([this, type = t.type] { relist(type); });
    t.relist->arm(kRelist);
  }

  // LinkWatch may have missed a service: list the followed types again, once things are calmer
  // (datagrams are dropped in bursts). Listing again makes the daemon answer with every import,
  // which may cost more datagrams: while losses go on, each wait is twice the last, up to kRelist.
  void relistSoon() {
    auto now = std::chrono::steady_clock::now();
    if (now - lastLoss > kRelist)
      lossDelay = kRelistAfterLoss;
    lastLoss = now;
    if (relistAll->armed())
      return;
    relistAll->arm(lossDelay);
    lossDelay = std::min<std::chrono::milliseconds>(lossDelay * 2, kRelist);
  }

  // An exported type is relisted only when its browser failed.
  void relist(const std::string& type) {
    auto t = types.find(type);
    if (t == types.end() || !running || !t->second.browsers.empty())
      return;
    log::info(kTag, "listing ", type, " on the link again");
    startBrowsing(t->second, true);
  }

  // LinkWatch heard a PTR record: of a type this Link only imports, or of an exported type
  // (heardExported).
  void heard(const std::string& name, const std::string& type, int ifindex, int family,
             std::uint32_t ttl) {
    auto t = types.find(type);
    if (!running || t == types.end())
      return;
    ServiceKey key{name, type, "local"};
    Sighting where{ifindex, family == AF_INET ? AVAHI_PROTO_INET : AVAHI_PROTO_INET6};
    auto b = browsed.find(key);
    bool known = b != browsed.end() && b->second.sightings.contains(where);
    if (t->second.exported) {
      heardExported(key, where, known, ttl);
      return;
    }
    if (ttl == 0 && !known)
      return;
    if (b == browsed.end() && tooMany(key))
      return;
    // A goodbye ends the record one second later (RFC 6762 section 10.1). Otherwise the service
    // stays known at least until the type is listed again (kRelist): nothing may refresh a
    // record nobody asks for.
    lease(key, where,
          std::chrono::steady_clock::now() +
              (ttl == 0 ? std::chrono::seconds(1)
                        : std::max<std::chrono::seconds>(std::chrono::seconds(ttl), kFoundLease)));
    if (!known && ttl > 0)
      sighted(key, where);
  }

  // A service of an exported type heard on the link: exported now if the link described it
  // (kConfirmWait), or described at last if the browser listed it first (kDescribeWait).
  void heardExported(const ServiceKey& key, Sighting where, bool known, std::uint32_t ttl) {
    auto now = std::chrono::steady_clock::now();
    if (ttl == 0) {
      // Said goodbye to before the browser listed it: gone.
      if (heardUntil.erase({key, where}) > 0)
        unsighted(key, where);
      return;
    }
    if (known) {
      // Listed by the browser before the link described it (kDescribeWait).
      Browsed& b = browsed.at(key);
      if (b.awaitingDescription)
        describedByLink(b);  // resolved() ends the wait
      return;
    }
    // One of our own imports (the browser tells those), or not described (yet: LinkWatch
    // reports it again when it is).
    if (publishedAs(key) != nullptr || !watch.described(key.name, key.type, where.iface))
      return;
    if (auto n = notListed.find(key); n != notListed.end()) {
      if (n->second > now)
        return;
      notListed.erase(n);
    }
    if (!browsed.contains(key) && tooMany(key))
      return;
    lease(key, where, now + kConfirmWait);
    sighted(key, where);
  }

  // kMaxBrowsedPerType services of the type of `key`, someone else's, are known already.
  bool tooMany(const ServiceKey& key) {
    if (browsedPerType[key.type] < kMaxBrowsedPerType || publishedAs(key) != nullptr)
      return false;
    auto now = std::chrono::steady_clock::now();
    if (now - lastRefusal >= kRefusalReport) {
      lastRefusal = now;
      log::warning(kTag, "ignoring ", describe(key), " heard on the link: ", kMaxBrowsedPerType,
                   " services of ", key.type, " are known already");
    }
    return true;
  }

  void forgetHeard(const ServiceKey& key, Sighting where) {
    heardUntil.erase({key, where});
    notListed.erase(key);
  }

  void lease(const ServiceKey& key, Sighting where, std::chrono::steady_clock::time_point until) {
    heardUntil.insert_or_assign({key, where}, until);
    scheduleExpiry(until);
  }

  void scheduleExpiry(std::chrono::steady_clock::time_point at) {
    if (expiry->armed() && expiryDue <= at)
      return;
    expiryDue = at;
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        at - std::chrono::steady_clock::now());
    expiry->arm(std::max(wait, std::chrono::milliseconds(0)) + std::chrono::milliseconds(1));
  }

  void expire() {
    auto now = std::chrono::steady_clock::now();
    std::vector<std::pair<ServiceKey, Sighting>> gone;
    std::optional<std::chrono::steady_clock::time_point> next;
    for (auto it = heardUntil.begin(); it != heardUntil.end();) {
      if (it->second <= now) {
        gone.push_back(it->first);
        it = heardUntil.erase(it);
      } else {
        next = next ? std::min(*next, it->second) : it->second;
        ++it;
      }
    }
    for (const auto& [key, where] : gone) {
      // Where the type's browser stays (this process cannot listen there), the browser follows
      // the service: its REMOVE ends it, and it lists a service only once. A service of an
      // exported type heard on the link and not listed by the browser since (heardExported)
      // goes.
      auto t = types.find(key.type);
      if (t != types.end() && !t->second.exported && !t->second.browsers.empty() &&
          !t->second.listening) {
        auto until = now + kFoundLease;
        heardUntil.insert_or_assign({key, where}, until);
        next = next ? std::min(*next, until) : until;
        continue;
      }
      if (t != types.end() && t->second.exported) {
        auto b = browsed.find(key);
        if (b != browsed.end() && b->second.sightings.size() == 1 &&
            b->second.sightings.contains(where)) {
          // Heard only there, and the browser has listed it nowhere.
          log::info(kTag, describe(key), " was heard on the link but avahi-daemon has not ",
                    "listed it in ", kConfirmWait.count(), " s; not exported");
          std::erase_if(notListed, [now](const auto& n) { return n.second <= now; });
          if (notListed.size() < kMaxBrowsedPerType)
            notListed.insert_or_assign(key, now + kNotListedFor);
        }
      }
      unsighted(key, where);
    }
    if (next)
      scheduleExpiry(*next);
  }

  bool exportedType(const ServiceKey& key) const {
    auto t = types.find(key.type);
    return t != types.end() && t->second.exported;
  }

  // Starts the first resolution of a service now or, for a type this Link only imports, once
  // fewer than kMaxImportedTypeResolvers are running.
  void requestResolver(Browsed& b) {
    if (exportedType(b.key)) {
      b.resolveQueued = false;  // the type became exported while it waited: its entry is skipped
      startResolver(b);
      return;
    }
    if (b.resolveQueued)
      return;
    if (importedTypeResolvers < kMaxImportedTypeResolvers) {
      startResolver(b);
      return;
    }
    b.resolveQueued = true;
    resolveQueue.push_back(b.key);
  }

  void startQueuedResolvers() {
    while (importedTypeResolvers < kMaxImportedTypeResolvers && !resolveQueue.empty()) {
      ServiceKey key = std::move(resolveQueue.front());
      resolveQueue.pop_front();
      auto it = browsed.find(key);
      if (it == browsed.end() || !it->second.resolveQueued)
        continue;  // forgotten meanwhile
      Browsed& b = it->second;
      b.resolveQueued = false;
      if (b.needsResolver())
        startResolver(b);
    }
  }

  // SRV and TXT only: the addresses come from one watch per host (watchHost), not from a host
  // name lookup in every resolver, which for a thousand services of one host kept avahi-daemon
  // busy for seconds.
  void startResolver(Browsed& b) {
    const Sighting& s = *b.sightings.begin();
    int slot = acquireSlot();
    b.resolver = avahi_service_resolver_new(
        client(slot), s.iface, s.proto, b.key.name.c_str(), b.key.type.c_str(),
        b.key.domain.c_str(), AVAHI_PROTO_UNSPEC, AVAHI_LOOKUP_NO_ADDRESS, &Impl::resolveCb, this);
    if (b.resolver == nullptr) {
      resolveFailed(b, avahiError(client(slot)));
      scheduleResolveRetry(b, true);
      return;
    }
    b.resolverSlot = slot;
    b.importedType = !exportedType(b.key);
    if (b.importedType)
      ++importedTypeResolvers;
    retain(slot);
  }

  void freeResolver(Browsed& b) {
    avahi_service_resolver_free(b.resolver);
    release(b.resolverSlot);
    b.resolver = nullptr;
    if (b.importedType && importedTypeResolvers > 0)
      --importedTypeResolvers;
    b.importedType = false;
    if (!resolveQueue.empty()) {
      // Not from inside a resolver's callback, which may go on with its own service.
      loop.post([this, alive = std::weak_ptr<bool>(alive)] {
        if (alive.lock())
          startQueuedResolvers();
      });
    }
  }

  // A failure to resolve, logged at most kResolveWarningsPerReport times per kRefusalReport.
  void resolveFailed(const Browsed& b, const std::string& why) {
    auto now = std::chrono::steady_clock::now();
    if (now - resolveWarningsFrom >= kRefusalReport) {
      if (resolveWarningsDropped > 0) {
        log::warning(kTag, "could not resolve ", resolveWarningsDropped,
                     " more services since the last report (not logged one by one)");
      }
      resolveWarningsFrom = now;
      resolveWarnings = 0;
      resolveWarningsDropped = 0;
    }
    if (resolveWarnings++ < kResolveWarningsPerReport) {
      log::warning(kTag, "cannot resolve ", describe(b.key), ": ", why, "; trying again in ",
                   nextRetryDelay(b).count() / 1000, " s");
    } else {
      ++resolveWarningsDropped;
      log::debug(kTag, "cannot resolve ", describe(b.key), ": ", why);
    }
  }

  // Services of exported types are tried every kResolveRetry: they are what the gateway is for.
  std::chrono::milliseconds nextRetryDelay(const Browsed& b) const {
    if (b.retryDelay.count() == 0 || exportedType(b.key))
      return kResolveRetry;
    return std::min(b.retryDelay * 2, kResolveRetryMax);
  }

  void follow(Browsed& b) {
    const Sighting& s = *b.sightings.begin();
    b.follower = entryGroups.resolveService(
        s.iface, s.proto, b.key.name, b.key.type, b.key.domain,
        [this, key = b.key](EntryGroups::Handle h, const EntryGroups::ServiceFound& found) {
          onFollow(key, h, found);
        });
    if (b.follower == 0)
      scheduleResolveRetry(b, true);
  }

  void unfollow(Browsed& b) {
    entryGroups.freeLookup(b.follower);
    b.follower = 0;
  }

  void scheduleFollow(Browsed& b) {
    b.followQueued = true;
    queueDue(followQueue, followTimer, kFollowDelay, b.key, [this] { startFollowing(); });
  }

  void startFollowing() {
    auto now = std::chrono::steady_clock::now();
    for (int n = 0; n < kFollowsPerTick && !followQueue.empty() && followQueue.front().first <= now;
         ++n) {
      auto it = browsed.find(followQueue.front().second);
      followQueue.pop_front();
      if (it == browsed.end() || !it->second.followQueued)
        continue;
      Browsed& b = it->second;
      b.followQueued = false;
      if (b.needsResolver())
        follow(b);
    }
    if (!followQueue.empty()) {
      followTimer->arm(std::max(kFollowTick, std::chrono::ceil<std::chrono::milliseconds>(
                                                 followQueue.front().first - now)));
    }
  }

  // A service waiting out a long backoff is tried again after kResolveRetry instead.
  void retrySoon(Browsed& b) {
    if (b.retryDelay > kResolveRetry && b.retry && b.retry->armed()) {
      b.retryDelay = std::chrono::milliseconds(0);
      b.retry->arm(kResolveRetry);
    }
  }

  // Tries again later: after kResolveRetry, or after a failure twice as long as the last wait.
  void scheduleResolveRetry(Browsed& b, bool failed) {
    if (!b.retry) {
      b.retry = loop.timer([this, key = b.key] {
        auto it = browsed.find(key);
        if (it != browsed.end() && it->second.needsResolver())
          requestResolver(it->second);
      });
    }
    std::chrono::milliseconds wait = kResolveRetry;
    if (failed) {
      wait = nextRetryDelay(b);
      b.retryDelay = wait;
    }
    b.retry->arm(wait);
  }

  static void resolveCb(AvahiServiceResolver* r, AvahiIfIndex iface, AvahiProtocol,
                        AvahiResolverEvent event, const char* name, const char* type,
                        const char* domain, const char* host, const AvahiAddress* address,
                        uint16_t port, AvahiStringList* txt, AvahiLookupResultFlags, void* self) {
    guarded(kTag, "service resolver", [&] {
      static_cast<Impl*>(self)->onResolve(r, iface, event, name, type, domain, host, address, port,
                                          txt);
    });
  }

  void onResolve(AvahiServiceResolver* r, AvahiIfIndex iface, AvahiResolverEvent event,
                 const char* name, const char* type, const char* domain, const char* host,
                 const AvahiAddress* address, std::uint16_t port, AvahiStringList* txt) {
    auto it = browsed.find(ServiceKey{name, type, domain});
    if (it == browsed.end() || it->second.resolver != r)
      return;
    Browsed& b = it->second;
    if (event == AVAHI_RESOLVER_FAILURE) {
      resolveFailed(b, avahiError(client(b.resolverSlot)));
      freeResolver(b);
      scheduleResolveRetry(b, true);
      return;
    }
    resolved(b, iface, host, address, port, inWireOrder(txtStrings(txt)));
    freeResolver(b);
    scheduleFollow(b);
  }

  void onFollow(const ServiceKey& key, EntryGroups::Handle h,
                const EntryGroups::ServiceFound& found) {
    auto it = browsed.find(key);
    if (it == browsed.end() || it->second.follower != h)
      return;
    Browsed& b = it->second;
    if (!found.error.empty()) {
      resolveFailed(b, found.error);
      unfollow(b);
      scheduleResolveRetry(b, true);
      return;
    }
    resolved(b, found.iface, found.host.c_str(), nullptr, found.port,
             inWireOrder(txtStrings(found.txt)));
  }

  // A service's TXT strings as the daemon reported them, in the order they have on the link: the
  // order the link described (describedByLink), the order the import gets on the other link.
  std::vector<std::string> inWireOrder(std::vector<std::string> txt) const {
    if (txtReversed)
      std::reverse(txt.begin(), txt.end());
    return txt;
  }

  void resolved(Browsed& b, AvahiIfIndex iface, const char* host, const AvahiAddress* address,
                std::uint16_t port, std::vector<std::string> txt) {
    log::debug(kTag, "resolved ", describe(b.key), " port ", port);
    b.resolved = true;
    b.awaitingDescription = false;
    b.retryDelay = std::chrono::milliseconds(0);
    b.resolveQueued = false;  // its queue entry is skipped
    b.service.key = b.key;
    b.service.port = port;
    b.service.txt = std::move(txt);
    std::string hostKey = std::to_string(iface) + "/" + host;
    if (b.hostKey != hostKey) {
      if (!b.hostKey.empty())
        unwatchHost(b.hostKey);
      b.hostKey = hostKey;
      b.service.host = host;
      watchHost(hostKey, iface, host);
    }
    if (address != nullptr)
      hosts[hostKey].addresses.insert(fromAvahi(*address));
    report(b);
    // Now that its host is known, an import of this very service may turn out to be at home.
    for (auto& [id, p] : published) {
      if (!p.atHome && p.service.key == b.key && isAtHome(p))
        commitPublished(p);
    }
  }

  static Address fromAvahi(const AvahiAddress& a) {
    Address out;
    if (a.proto == AVAHI_PROTO_INET) {
      out.family = Address::Family::V4;
      std::memcpy(out.bytes.data(), &a.data.ipv4.address, 4);
    } else {
      out.family = Address::Family::V6;
      std::memcpy(out.bytes.data(), a.data.ipv6.address, 16);
    }
    return out;
  }

  // Address records of a host, watched so that every address (not just the one the resolver
  // picked) is exported and changes are followed.
  void watchHost(const std::string& hostKey, AvahiIfIndex iface, const std::string& host) {
    HostWatch& h = hosts[hostKey];
    if (h.refs++ > 0)
      return;
    h.iface = iface;
    h.host = host;
    for (std::uint16_t rrtype : {kTypeA, kTypeAaaa}) {
      EntryGroups::Handle rb = entryGroups.browseRecords(
          iface, AVAHI_PROTO_UNSPEC, host, rrtype,
          [this, hostKey](EntryGroups::Handle, const EntryGroups::RecordEvent& e) {
            onHostRecord(hostKey, e);
          });
      if (rb != 0)
        h.browsers.push_back(rb);
    }
  }

  void unwatchHost(const std::string& hostKey) {
    auto it = hosts.find(hostKey);
    if (it == hosts.end() || --it->second.refs > 0)
      return;
    for (EntryGroups::Handle rb : it->second.browsers)
      entryGroups.freeLookup(rb);
    hosts.erase(it);
  }

  // Imports are announced (EntryGroups::useInterface), and the link listened to (LinkWatch),
  // where the daemon works and this Link is to publish.
  void useDaemonInterface(AvahiIfIndex iface, AvahiProtocol protocol) {
    entryGroups.useInterface(iface, protocol);
    if (std::find(ifaces.begin(), ifaces.end(), AVAHI_IF_UNSPEC) != ifaces.end() ||
        std::find(ifaces.begin(), ifaces.end(), iface) != ifaces.end()) {
      watch.listen(iface, protocol == AVAHI_PROTO_INET ? AF_INET : AF_INET6);
    }
  }

  // The daemon's own address records show on every interface and protocol it uses: where
  // imports are announced (EntryGroups::useInterface).
  void watchDaemonInterfaces() {
    const char* fqdn = avahi_client_get_host_name_fqdn(client(0));
    if (fqdn == nullptr)
      return;
    for (std::uint16_t rrtype : {kTypeA, kTypeAaaa}) {
      entryGroups.browseRecords(AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, fqdn, rrtype,
                                [this](EntryGroups::Handle, const EntryGroups::RecordEvent& e) {
                                  if (e.kind == EntryGroups::RecordEvent::Kind::New)
                                    useDaemonInterface(e.iface, e.protocol);
                                  else if (e.kind == EntryGroups::RecordEvent::Kind::Remove)
                                    watch.forgetGoneInterfaces();  // one may have gone
                                  else if (e.kind == EntryGroups::RecordEvent::Kind::Failure)
                                    log::warning(kTag,
                                                 "cannot watch the daemon's interfaces: ", e.error);
                                });
    }
  }

  void onHostRecord(const std::string& hostKey, const EntryGroups::RecordEvent& e) {
    using Kind = EntryGroups::RecordEvent::Kind;
    auto it = hosts.find(hostKey);
    if (it == hosts.end())
      return;
    HostWatch& h = it->second;
    switch (e.kind) {
      case Kind::CacheExhausted:
        ++h.exhausted;
        break;
      case Kind::AllForNow:
        break;
      case Kind::Failure:
        log::warning(kTag, "cannot watch the addresses of ", h.host, ": ", e.error);
        ++h.exhausted;  // reported with the addresses it has
        break;
      case Kind::New:
      case Kind::Remove: {
        if (e.kind == Kind::New)
          entryGroups.useInterface(e.iface, e.protocol);
        Address a;
        if (e.type == kTypeA && e.rdata.size() == 4) {
          a.family = Address::Family::V4;
        } else if (e.type == kTypeAaaa && e.rdata.size() == 16) {
          a.family = Address::Family::V6;
        } else {
          return;
        }
        std::memcpy(a.bytes.data(), e.rdata.data(), e.rdata.size());
        bool changed =
            e.kind == Kind::New ? h.addresses.insert(a).second : h.addresses.erase(a) > 0;
        if (!changed)
          return;
        break;
      }
    }
    for (auto& [_, b] : browsed) {
      if (b.hostKey == hostKey)
        report(b);
    }
  }

  void report(Browsed& b) {
    if (!b.resolved)
      return;
    auto h = hosts.find(b.hostKey);
    if (h != hosts.end() && !h->second.complete()) {
      // A new watch (a new host, or the daemon back after a restart): give its browsers a moment
      // to list every address, rather than report one address and then two.
      if (!b.addressWait) {
        b.addressWait = loop.timer([this, key = b.key] {
          auto it = browsed.find(key);
          if (it != browsed.end()) {
            it->second.addressWait.reset();
            auto host = hosts.find(it->second.hostKey);
            if (host != hosts.end())
              host->second.exhausted = static_cast<int>(host->second.browsers.size());
            report(it->second);
          }
        });
        b.addressWait->arm(kAddressWait);
      }
      return;
    }
    b.service.addresses.clear();
    if (h != hosts.end())
      b.service.addresses.assign(h->second.addresses.begin(), h->second.addresses.end());
    if (b.service.addresses.empty())
      return;  // not reachable yet: wait for an address record
    if (b.reported && b.lastReported == b.service)
      return;
    b.reported = true;
    b.lastReported = b.service;
    if (events.found)
      events.found(b.service);
  }

  void forget(std::map<ServiceKey, Browsed>::iterator it) {
    Browsed& b = it->second;
    if (b.resolver)
      freeResolver(b);
    if (b.follower != 0)
      unfollow(b);
    if (!b.hostKey.empty())
      unwatchHost(b.hostKey);
    bool reported = b.reported;
    ServiceKey key = b.key;
    bool counted = b.counted;
    browsed.erase(it);
    if (auto n = browsedPerType.find(key.type);
        counted && n != browsedPerType.end() && --n->second == 0) {
      browsedPerType.erase(n);
    }
    log::debug(kTag, "browse: gone ", describe(key));
    if (reported && events.removed)
      events.removed(key);
    // An import held back because its original was here is due now.
    for (auto& [id, p] : published) {
      if (p.atHome && p.service.key == key)
        commitPublished(p);
    }
  }

  // ---- publishing ----------------------------------------------------------------------------

  void ensureType(const std::string& type) {
    auto [it, added] = types.try_emplace(type);
    if (!added)
      return;
    it->second.type = type;
    if (running)
      startBrowsing(it->second);
  }

  // What the link has under this name; mDNS names compare without regard to ASCII case
  // (wire::sameName): "printer" on the link takes "Printer" too.
  std::map<ServiceKey, Browsed>::const_iterator findBrowsed(const ServiceKey& key) const {
    auto b = browsed.find(key);
    if (b != browsed.end() && !b->second.sightings.empty())
      return b;
    for (auto c = browsed.begin(); c != browsed.end(); ++c) {
      if (!c->second.sightings.empty() && c->first.type == key.type &&
          c->first.domain == key.domain && wire::sameName(c->first.name, key.name)) {
        return c;
      }
    }
    return b;
  }

  bool nameTaken(const std::string& name, const Published& self) const {
    ServiceKey key{name, self.service.key.type, self.service.key.domain};
    auto b = findBrowsed(key);
    if (b == browsed.end() || b->second.sightings.empty()) {
      // Not on the link, or only a stale memory of it; our own other imports count too.
      for (const auto& [id, p] : published) {
        if (&p != &self && wire::sameName(p.name, name) && p.service.key.type == key.type)
          return true;
      }
      return false;
    }
    for (const auto& [id, p] : published) {
      if (wire::sameName(p.name, name) && p.service.key.type == key.type)
        return &p != &self;
    }
    if (b->second.ownImport)
      return false;  // our own earlier import of this name, on its way out
    // The same, seen first when the daemon had already dropped it (it cached the records from
    // its own answers and lists them until the goodbye has passed, about 1 s).
    if (recentlyWithdrawn(b->first))
      return false;
    // The same name on the same host is the same service, published by another gateway of this
    // link that imports it too: identical records are no conflict in mDNS (RFC 6762 section 9).
    if (b->second.resolved && b->second.service.host == self.service.host)
      return false;
    return true;  // someone else's service
  }

  void schedulePublish(Published& p) {
    ensureType(p.service.key.type);
    if (!running)
      return;
    if (!types[p.service.key.type].ready) {
      p.waiting = true;
      return;
    }
    commitPublished(p);
  }

  bool recentlyWithdrawn(const ServiceKey& key) const {
    auto gone = withdrawnNames.find(key);
    return gone != withdrawnNames.end() &&
           std::chrono::steady_clock::now() - gone->second < kWithdrawnLinger;
  }

  // What this Link has on the link under `key` (its current name there), if anything. Asked for
  // every browse result of our own: the index answers, the scan covers what it may have missed.
  const Published* publishedAs(const ServiceKey& key) const {
    auto isIt = [&key](const Published& p) {
      return p.group != 0 && p.name == key.name && p.service.key.type == key.type &&
             p.service.key.domain == key.domain;
    };
    auto hint = publishedNames.find(key);
    if (hint != publishedNames.end()) {
      auto it = published.find(hint->second);
      if (it != published.end() && isIt(it->second))
        return &it->second;
    }
    for (const auto& [id, p] : published) {
      if (isIt(p))
        return &p;
    }
    return nullptr;
  }

  // The link has this very service, from the host it came from.
  bool isAtHome(const Published& p) const {
    if (p.homeHost.empty())
      return false;
    auto b = browsed.find(p.service.key);
    return b != browsed.end() && !b->second.sightings.empty() && b->second.resolved &&
           b->second.service.host == p.homeHost;
  }

  void commitPublished(Published& p) {
    if (!running)
      return;
    if (isAtHome(p)) {
      if (!p.atHome) {
        log::info(kTag, describe(p.service.key), " is on this link already, from ", p.homeHost,
                  "; not publishing a copy");
      }
      p.atHome = true;
      if (p.group) {
        entryGroups.free(p.group);
        setGroup(p, 0);
      }
      return;
    }
    p.atHome = false;
    if (p.name.empty() || nameTaken(p.name, p)) {
      std::string name = p.service.key.name;
      for (int i = 0; i < kMaxRenames && nameTaken(name, p); ++i)
        name = alternative(name);
      if (name != p.service.key.name) {
        log::notice(kTag, describe(p.service.key), " is taken on this link; publishing as '", name,
                    "'");
      }
      setName(p, name);
    }
    publishedNames[{p.name, p.service.key.type, p.service.key.domain}] = p.id;
    // The group this one replaces, and a withdrawn one of the same name still waiting to go:
    // Avahi refuses the same unique records in two groups, so they go first.
    std::vector<EntryGroups::Handle> replacing = takePendingFrees(p.name, p.service.key.type);
    if (p.group)
      replacing.insert(replacing.begin(), p.group);
    setGroup(p, 0);
    if (p.ownHost) {
      const char* fqdn = avahi_client_get_host_name_fqdn(client(0));
      if (fqdn == nullptr) {
        log::error(kTag, "cannot advertise ", describe(p.service.key), ": host name unknown");
        freeAll(replacing);
        return;
      }
      p.service.host = fqdn;
    } else {
      ensureHostGroup(p);
    }
    auto records = serviceRecords(p);
    if (!records) {
      log::error(kTag, "cannot publish ", describe(p.service.key), ": ", records.error());
      freeAll(replacing);
      return;
    }
    setGroup(
        p, entryGroups.publish(std::move(*records), describe(p.service.key), std::move(replacing)));
    if (!p.group)
      return;  // no system bus; logged
    ensureTypeGroup(p);
  }

  static std::string alternative(const std::string& name) {
    char* alt = avahi_alternative_service_name(name.c_str());
    std::string out = alt ? alt : name + " #2";
    avahi_free(alt);
    return out;
  }

  // A record on every interface this Link publishes on, added to `out`.
  void addRecord(std::vector<EntryGroups::Record>& out, std::uint32_t flags,
                 const std::string& name, std::uint16_t type, std::uint32_t ttl,
                 const wire::Bytes& rdata) const {
    for (AvahiIfIndex iface : ifaces)
      out.push_back({iface, AVAHI_PROTO_UNSPEC, flags, name, type, ttl, rdata});
  }

  // The service's own records (SRV, TXT, its PTR), once per interface.
  Result<std::vector<EntryGroups::Record>> serviceRecords(const Published& p) const {
    const ServiceKey& key = p.service.key;
    auto typeLabels = wire::splitPlain(key.type);
    auto domainLabels = wire::splitPlain(key.domain);
    auto hostLabels = wire::splitEscaped(p.service.host);
    if (!typeLabels || !domainLabels || !hostLabels)
      return fail("malformed type, domain or host");
    wire::Labels typeName = *typeLabels;
    typeName.insert(typeName.end(), domainLabels->begin(), domainLabels->end());
    wire::Labels instance = {p.name};
    instance.insert(instance.end(), typeName.begin(), typeName.end());

    auto instanceWire = wire::encodeName(instance);
    auto srv = wire::srvRdata(p.service.port, *hostLabels);
    auto txt = wire::txtRdata(p.service.txt);
    if (!instanceWire)
      return fail(instanceWire.error());
    if (!srv)
      return fail(srv.error());
    if (!txt)
      return fail(txt.error());

    const std::uint32_t unique = AVAHI_PUBLISH_UNIQUE | AVAHI_PUBLISH_NO_PROBE;
    std::string instanceName = wire::escapedName(instance);
    std::string typeNameText = wire::escapedName(typeName);
    const std::uint32_t hostTtl = p.ttl ? p.ttl : kTtlHost;
    const std::uint32_t serviceTtl = p.ttl ? p.ttl : kTtlService;
    std::vector<EntryGroups::Record> out;
    addRecord(out, unique, instanceName, wire::kTypeSrv, hostTtl, *srv);
    addRecord(out, unique, instanceName, wire::kTypeTxt, serviceTtl, *txt);
    addRecord(out, 0, typeNameText, wire::kTypePtr, serviceTtl, *instanceWire);
    return out;
  }

  void ensureTypeGroup(const Published& p) {
    TypeGroup& g = typeGroups[{p.service.key.type, p.service.key.domain}];
    g.users.insert(p.id);
    if (g.group != 0)
      return;
    auto typeLabels = wire::splitPlain(p.service.key.type);
    auto domainLabels = wire::splitPlain(p.service.key.domain);
    if (!typeLabels || !domainLabels)
      return;  // addServiceRecords has refused this service already
    wire::Labels typeName = *typeLabels;
    typeName.insert(typeName.end(), domainLabels->begin(), domainLabels->end());
    wire::Labels servicesName = {"_services", "_dns-sd", "_udp"};
    servicesName.insert(servicesName.end(), domainLabels->begin(), domainLabels->end());
    auto typeWire = wire::encodeName(typeName);
    if (!typeWire)
      return;
    std::vector<EntryGroups::Record> records;
    addRecord(records, 0, wire::escapedName(servicesName), wire::kTypePtr,
              p.ttl ? p.ttl : kTtlService, *typeWire);
    g.group = entryGroups.publish(std::move(records), "the type " + p.service.key.type);
  }

  void releaseTypeGroup(const ServiceKey& key, const std::string& id) {
    releaseShared(typeGroups, std::make_pair(key.type, key.domain), id);
  }

  // A group shared by several published services (a host's addresses, a type's enumeration
  // record) goes when its last user does.
  template <typename Groups, typename GroupKey>
  void releaseShared(Groups& groups, const GroupKey& key, const std::string& id) {
    auto it = groups.find(key);
    if (it == groups.end())
      return;
    it->second.users.erase(id);
    if (!it->second.users.empty())
      return;
    if (it->second.group)
      entryGroups.free(it->second.group);
    groups.erase(it);
  }

  // Address records live in one entry group per host name, shared by that host's services:
  // Avahi refuses the same unique record twice.
  void ensureHostGroup(Published& p) {
    HostGroup& g = hostGroups[p.service.host];
    g.users.insert(p.id);
    std::vector<Address> wanted = p.service.addresses;
    if (g.group != 0 && g.addresses == wanted)
      return;
    g.addresses = wanted;
    std::vector<EntryGroups::Record> records;
    for (const Address& a : wanted) {
      wire::Bytes rdata(a.bytes.begin(),
                        a.bytes.begin() + (a.family == Address::Family::V4 ? 4 : 16));
      addRecord(records, AVAHI_PUBLISH_UNIQUE | AVAHI_PUBLISH_NO_PROBE, p.service.host,
                a.family == Address::Family::V4 ? kTypeA : kTypeAaaa, kTtlHost, rdata);
    }
    std::vector<EntryGroups::Handle> replacing;
    if (g.group != 0)
      replacing.push_back(g.group);
    g.group =
        entryGroups.publish(std::move(records), "host " + p.service.host, std::move(replacing));
  }

  // Frees a withdrawn service's entry group now if this window has room, later otherwise.
  void freeGroupPaced(PendingFree f) {
    auto now = std::chrono::steady_clock::now();
    if (now - freeWindowStart >= kFreeWindow) {
      freeWindowStart = now;
      freesInWindow = 0;
    }
    if (pendingFrees.empty() && freesInWindow < kFreesPerWindow) {
      ++freesInWindow;
      freeGroup(f);
      return;
    }
    pendingFrees.push_back(std::move(f));
    if (!freeTimer)
      freeTimer = loop.timer([this] { drainPendingFrees(); });
    if (!freeTimer->armed())
      freeTimer->arm(kFreeWindow);
  }

  void drainPendingFrees() {
    freeWindowStart = std::chrono::steady_clock::now();
    freesInWindow = 0;
    while (!pendingFrees.empty() && freesInWindow < kFreesPerWindow) {
      ++freesInWindow;
      freeGroup(pendingFrees.front());
      pendingFrees.pop_front();
    }
    if (!pendingFrees.empty())
      freeTimer->arm(kFreeWindow);
  }

  // Withdrawn groups of this name still waiting to go, taken out of the queue.
  std::vector<EntryGroups::Handle> takePendingFrees(const std::string& name,
                                                    const std::string& type) {
    std::vector<EntryGroups::Handle> out;
    for (auto it = pendingFrees.begin(); it != pendingFrees.end();) {
      if (it->name == name && it->type == type) {
        out.push_back(it->group);
        it = pendingFrees.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }

  void freeAll(const std::vector<EntryGroups::Handle>& groups) {
    for (EntryGroups::Handle g : groups)
      entryGroups.free(g);
  }

  void freeGroup(const PendingFree& f) {
    entryGroups.free(f.group);  // withdraws with goodbye packets
  }

  void releaseHostGroup(const std::string& host, const std::string& id) {
    releaseShared(hostGroups, host, id);
  }

  void setGroup(Published& p, EntryGroups::Handle g) {
    if (p.group)
      groupOwners.erase(p.group);
    p.group = g;
    if (g)
      groupOwners[g] = p.id;
  }

  void onGroup(EntryGroups::Handle g, EntryGroups::Event event, const std::string& error) {
    if (auto owner = groupOwners.find(g); owner != groupOwners.end()) {
      auto found = published.find(owner->second);
      if (found == published.end() || found->second.group != g)
        return;  // cannot be: setGroup() keeps them in step
      const std::string& id = found->first;
      Published& p = found->second;
      if (event == EntryGroups::Event::Committed) {
        log::info(kTag, "published ", describe(p.service.key), " as '", p.name, "' port ",
                  p.service.port, " host ", p.service.host);
        return;
      }
      if (event == EntryGroups::Event::Failure) {
        log::error(kTag, "publishing '", p.name, "' failed: ", error);
        return;
      }
      log::notice(kTag, "name conflict for '", p.name, "'; renaming the import");
      // Not from inside the callback: rename() replaces this very group.
      loop.post([this, id = id, g, alive = std::weak_ptr<bool>(alive)] {
        if (!alive.lock())
          return;
        auto it = published.find(id);
        if (it != published.end() && it->second.group == g)
          rename(it->second);
      });
      return;
    }
    if (event == EntryGroups::Event::Committed)
      return;
    for (const auto& [host, hg] : hostGroups) {
      if (hg.group == g) {
        log::error(kTag, "address records of ", host, ": ",
                   event == EntryGroups::Event::Collision ? "another host holds this name" : error);
        return;
      }
    }
    log::error(kTag, "publishing a type enumeration record: ", error);
  }

  void rename(Published& p) {
    if (++p.renames > kMaxRenames) {
      log::error(kTag, "giving up on ", describe(p.service.key), " after ", kMaxRenames,
                 " renames");
      return;
    }
    setName(p, alternative(p.name));
    commitPublished(p);
  }

  // The index of names on the link follows a rename (publishedAs).
  void setName(Published& p, std::string name) {
    auto old = publishedNames.find({p.name, p.service.key.type, p.service.key.domain});
    if (old != publishedNames.end() && old->second == p.id)
      publishedNames.erase(old);
    p.name = std::move(name);
  }
};

Link::Link(EventLoop& loop, LinkOptions options, LinkEvents events)
    : impl_(std::make_unique<Impl>(loop, std::move(options), std::move(events))) {}

Link::~Link() = default;

void Link::browse(const std::string& type) {
  impl_->ensureType(type);
  Impl::TypeBrowse& t = impl_->types[type];
  if (t.exported)
    return;
  t.exported = true;
  impl_->watch.unwatch(type);
  if (impl_->running)
    impl_->watch.describe(type);
  t.relist.reset();
  // Imported so far: its services are wanted now, from a browser again. What was heard expires
  // as before unless the browser lists it.
  if (t.listening) {
    t.listening = false;
    if (impl_->running && t.browsers.empty())
      impl_->startBrowsing(t);
  }
  // Its services waiting for a resolver, or in a long backoff, are tried now.
  for (auto& [key, b] : impl_->browsed) {
    if (key.type != type || !b.needsResolver())
      continue;
    if (b.resolveQueued)
      impl_->requestResolver(b);
    else
      impl_->retrySoon(b);
  }
}

void Link::publish(const std::string& id, const Service& service, const std::string& homeHost) {
  auto [it, added] = impl_->published.try_emplace(id);
  Impl::Published& p = it->second;
  if (!added && p.service == service && p.homeHost == homeHost)
    return;
  p.homeHost = homeHost;
  if (!added && p.service.host != service.host)
    impl_->releaseHostGroup(p.service.host, id);
  if (!added &&
      (p.service.key.type != service.key.type || p.service.key.domain != service.key.domain)) {
    impl_->releaseTypeGroup(p.service.key, id);
  }
  bool renamed = !added && p.service.key != service.key;
  if (renamed)
    impl_->setName(p, "");  // before the key changes: the index entry is under the old one
  p.id = id;
  p.service = service;
  if (added || renamed) {
    p.name.clear();
    p.renames = 0;
  }
  impl_->schedulePublish(p);
}

void Link::advertise(const std::string& id, const Service& service, std::chrono::seconds ttl) {
  auto [it, added] = impl_->published.try_emplace(id);
  Impl::Published& p = it->second;
  if (!added && p.service.key == service.key && p.service.port == service.port &&
      p.service.txt == service.txt) {
    return;
  }
  p.id = id;
  p.service = service;
  p.ownHost = true;
  p.ttl = static_cast<std::uint32_t>(ttl.count());
  if (added)
    p.name.clear();
  impl_->schedulePublish(p);
}

void Link::unpublish(const std::string& id) {
  auto it = impl_->published.find(id);
  if (it == impl_->published.end())
    return;
  Impl::Published& p = it->second;
  if (p.group) {
    impl_->freeGroupPaced({p.group, p.name, p.service.key.type});
    impl_->groupOwners.erase(p.group);
  }
  log::info(kTag, "withdrew '", p.name, "'.", p.service.key.type);
  impl_->releaseTypeGroup(p.service.key, id);
  impl_->publishedNames.erase({p.name, p.service.key.type, p.service.key.domain});
  if (!p.name.empty() && p.group) {
    auto now = std::chrono::steady_clock::now();
    std::erase_if(impl_->withdrawnNames,
                  [now](const auto& w) { return now - w.second >= kWithdrawnLinger; });
    impl_->withdrawnNames[{p.name, p.service.key.type, p.service.key.domain}] = now;
  }
  std::string host = p.service.host;
  bool ownHost = p.ownHost;
  ServiceKey onLink{p.name, p.service.key.type, p.service.key.domain};
  impl_->published.erase(it);
  if (!ownHost)
    impl_->releaseHostGroup(host, id);
  // Kept through a reported removal (see unsighted) and not seen since: gone now.
  auto seen = impl_->browsed.find(onLink);
  if (seen != impl_->browsed.end() && seen->second.sightings.empty() &&
      impl_->publishedAs(onLink) == nullptr)
    impl_->forget(seen);
}

bool Link::publishes(const ServiceKey& key) const {
  return impl_->publishedAs(key) != nullptr;
}

std::string Link::publishedName(const std::string& id) const {
  auto it = impl_->published.find(id);
  return it == impl_->published.end() || it->second.group == 0 ? "" : it->second.name;
}

bool Link::daemonRunning() const {
  return impl_->running;
}
std::size_t Link::browsedCount() const {
  return impl_->browsed.size();
}
std::size_t Link::publishedCount() const {
  return impl_->published.size();
}

}  // namespace z2z::mdns
