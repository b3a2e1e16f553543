// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/mdns/entry_groups.hpp"

#include <avahi-common/address.h>
#include <avahi-common/defs.h>
#include <avahi-common/domain.h>
#include <avahi-common/timeval.h>
#include <avahi-common/watch.h>
#include <dbus/dbus.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <unordered_map>

#include "z2z/config/guard.hpp"
#include "z2z/config/log.hpp"
#include "z2z/mdns/announcer.hpp"
#include "z2z/mdns/event_loop.hpp"

namespace z2z::mdns {
namespace {

constexpr std::string_view kTag = "mdns";
constexpr char kAvahi[] = "org.freedesktop.Avahi";
constexpr char kServerInterface[] = "org.freedesktop.Avahi.Server";
constexpr char kGroupInterface[] = "org.freedesktop.Avahi.EntryGroup";
constexpr char kResolverInterface[] = "org.freedesktop.Avahi.ServiceResolver";
constexpr char kRecordBrowserInterface[] = "org.freedesktop.Avahi.RecordBrowser";
// dbus-daemon's system bus lets a connection have 128 calls waiting for their replies
// (max_replies_per_connection); more are refused.
constexpr std::size_t kMaxInFlight = 64;
// avahi-daemon gives a client (a connection) objects-per-client-max objects (groups, resolvers,
// browsers), 1024 by default. A group that replaces another goes on its connection whatever the
// count: the old one's Free reaches the daemon first.
constexpr int kObjectsPerConnection = 900;
// Connections opened ahead of need when the daemon comes up (room for 1,800 groups): opening one
// waits for the bus, which took 1.2 s in the middle of a thousand-service burst (scale.sh).
constexpr std::size_t kConnectionsWithRoom = 2;
// Messages handled per turn of our loop before it looks at its other sources again.
constexpr int kDispatchBatch = 256;
constexpr std::int32_t kStateCollision = 3;  // AVAHI_ENTRY_GROUP_COLLISION
constexpr std::int32_t kStateFailure = 4;    // AVAHI_ENTRY_GROUP_FAILURE
constexpr std::uint16_t kClassIn = 1;
// How long a reset waits for the daemon to have freed our groups before the goodbyes go.
constexpr int kSettleTimeoutMs = 1000;
// In a burst of new groups (kBurstGroups within kBurstWindow), the Announcer announces each at
// once, and the daemon gets its records kHandOverAfter later, at most kHandOverBatch groups per
// kHandOverTick (400 a second). Meanwhile the daemon does not answer for them, and the
// announcements (0, 1 and 3 s after) tell the link. A daemon given a thousand groups' D-Bus calls
// at once read a browser's truncated query only in part before it answered (avahi-daemon 0.8
// waits 20-120 ms, not the 400-500 ms of RFC 6762 section 7.2), and so sent every import again to
// every host of the link (BENCHMARKS.md, "Exports described by the link, imports handed over
// after the burst"). Handed over all at once when the burst was over, the groups' calls came
// just as the link's browsers had taken everything in, and their cost to the gateway (about
// 0.1 s of CPU for a thousand) fell into its first idle seconds (BENCHMARKS.md, "Imports handed
// over paced"). Half a second after the announcement did better than a second after, on both
// the time until the link's browser had everything and the idle CPU after (same section).
constexpr int kBurstGroups = 16;
constexpr std::chrono::milliseconds kBurstWindow{1000};
constexpr std::chrono::milliseconds kHandOverAfter{500};
constexpr int kHandOverBatch = 16;
constexpr std::chrono::milliseconds kHandOverTick{40};

enum class Call { New, AddRecord, Commit, Free, LookupNew, LookupFree };

AvahiWatchEvent toAvahi(unsigned flags) {
  int e = 0;
  if (flags & DBUS_WATCH_READABLE)
    e |= AVAHI_WATCH_IN;
  if (flags & DBUS_WATCH_WRITABLE)
    e |= AVAHI_WATCH_OUT;
  return static_cast<AvahiWatchEvent>(e);
}

unsigned toDbus(AvahiWatchEvent e) {
  unsigned f = 0;
  if (e & AVAHI_WATCH_IN)
    f |= DBUS_WATCH_READABLE;
  if (e & AVAHI_WATCH_OUT)
    f |= DBUS_WATCH_WRITABLE;
  if (e & AVAHI_WATCH_ERR)
    f |= DBUS_WATCH_ERROR;
  if (e & AVAHI_WATCH_HUP)
    f |= DBUS_WATCH_HANGUP;
  return f;
}

struct MessageUnref {
  void operator()(DBusMessage* m) const { dbus_message_unref(m); }
};
using Message = std::unique_ptr<DBusMessage, MessageUnref>;

std::string errorText(DBusMessage* reply) {
  if (reply == nullptr)
    return "no reply (connection to the system bus lost)";
  DBusError err;
  dbus_error_init(&err);
  std::string out = "error";
  if (dbus_set_error_from_message(&err, reply))
    out = std::string(err.message ? err.message : err.name);
  dbus_error_free(&err);
  return out;
}

}  // namespace

struct EntryGroups::Impl {
  struct Conn;

  // What a D-Bus watch or timeout needs in our loop's callbacks.
  struct WatchData {
    Conn* conn;
    DBusWatch* watch;
    AvahiWatch* avahi = nullptr;
  };
  struct TimeoutData {
    Conn* conn;
    DBusTimeout* timeout;
    AvahiTimeout* avahi = nullptr;
  };

  struct Outgoing {
    Message message;
    Handle group;
    Call call;
    std::uint64_t goodbye;  // a Free's key into `goodbyes`, or 0
  };

  // A call's context, until its reply.
  struct Pending {
    Handle group;
    Call call;
    std::uint64_t goodbye;
  };

  // One private connection to the system bus: one avahi-daemon client.
  struct Conn : std::enable_shared_from_this<Conn> {
    Impl* impl = nullptr;
    DBusConnection* bus = nullptr;
    AvahiTimeout* dispatch = nullptr;
    bool dead = false;
    int objects = 0;                      // groups and lookups the daemon has (or will have) for us
    std::deque<Outgoing> urgent;          // calls on existing groups: they finish a publication
    std::deque<Outgoing> fresh;           // new groups and lookups
    std::map<std::string, Handle> paths;  // groups
    std::map<std::string, Handle> lookupPaths;  // lookups
    // The calls waiting for replies, by serial. The filter takes the replies: a DBusPendingCall
    // for each call, which libdbus allocates with a ready-made timeout error message, was a
    // fifth of the CPU of handing a burst's thousand groups to the daemon (perf, scale.sh).
    std::unordered_map<dbus_uint32_t, Pending> calls;
  };

  enum class GroupState { Waiting, Creating, Live, Failed };  // Waiting: for its hand-over
  struct Group {
    std::shared_ptr<Conn> conn;
    std::string path;
    std::string label;
    std::vector<Record> records;
    GroupState state = GroupState::Creating;
    bool freed = false;  // while Creating: free it when the daemon says its path
    // Frees of replaced groups on other connections still unanswered: the records wait for
    // them, or the daemon could see the same unique records twice.
    int waitFrees = 0;
    bool released = false;  // the Announcer no longer counts its records
  };

  // A resolver or record browser; its callback is shared so that it outlives a free from inside
  // itself.
  struct Lookup {
    std::shared_ptr<Conn> conn;
    std::string path;  // empty while the daemon has not answered its creation
    bool freed = false;
    std::shared_ptr<ServiceCallback> onService;
    std::shared_ptr<RecordCallback> onRecord;
  };

  const AvahiPoll* poll;
  EventCallback events;
  std::vector<std::shared_ptr<Conn>> conns;
  std::map<Handle, Group> groups;
  std::map<Handle, Lookup> lookups;  // handles from the same count as groups'
  std::size_t live = 0;
  Handle lastHandle = 0;
  bool busWarned = false;

  Announcer announcer;
  // When the latest groups were published, newest last (at most kBurstGroups), and the groups
  // waiting for their hand-over, oldest first.
  std::deque<std::chrono::steady_clock::time_point> recent;
  std::deque<std::pair<std::chrono::steady_clock::time_point, Handle>> waiting;
  std::unique_ptr<EventLoop::Timer> handOverTimer;
  // Records of freed groups, for goodbyes once the daemon has answered their Free.
  std::map<std::uint64_t, std::vector<Record>> goodbyes;
  std::uint64_t lastGoodbye = 0;

  Impl(EventLoop& loop, EventCallback e)
      : poll(loop.avahiPoll()), events(std::move(e)), announcer(loop) {
    handOverTimer =
        loop.timer([this] { guarded(kTag, "entry group hand-over", [this] { handOver(); }); });
  }

  ~Impl() { reset(); }

  // ---- connections ---------------------------------------------------------------------------

  std::shared_ptr<Conn> connectionWithRoom() {
    for (const auto& c : conns) {
      if (!c->dead && c->objects < kObjectsPerConnection)
        return c;
    }
    return open();
  }

  // Opens connections until kConnectionsWithRoom have room (some may be in use already).
  void prepare() {
    std::size_t withRoom = 0;
    for (const auto& c : conns)
      withRoom += !c->dead && c->objects < kObjectsPerConnection;
    for (; withRoom < kConnectionsWithRoom; ++withRoom) {
      if (!open())
        return;
    }
  }

  std::shared_ptr<Conn> open() {
    DBusError err;
    dbus_error_init(&err);
    DBusConnection* bus = dbus_bus_get_private(DBUS_BUS_SYSTEM, &err);
    if (bus == nullptr) {
      if (!busWarned) {
        log::error(kTag, "cannot reach the system bus to publish: ",
                   err.message ? err.message : "unknown error");
      }
      busWarned = true;
      dbus_error_free(&err);
      return nullptr;
    }
    busWarned = false;
    auto c = std::make_shared<Conn>();
    c->impl = this;
    c->bus = bus;
    dbus_connection_set_exit_on_disconnect(bus, FALSE);
    c->dispatch = poll->timeout_new(poll, nullptr, &Impl::onDispatch, c.get());
    dbus_connection_add_filter(bus, &Impl::filter, c.get(), nullptr);
    dbus_connection_set_watch_functions(bus, &Impl::addWatch, &Impl::removeWatch,
                                        &Impl::toggleWatch, c.get(), nullptr);
    dbus_connection_set_timeout_functions(bus, &Impl::addTimeout, &Impl::removeTimeout,
                                          &Impl::toggleTimeout, c.get(), nullptr);
    dbus_connection_set_dispatch_status_function(bus, &Impl::dispatchStatus, c.get(), nullptr);
    // The daemon addresses StateChanged to the group's owner; the rule only makes sure.
    dbus_bus_add_match(bus,
                       "type='signal',sender='org.freedesktop.Avahi',"
                       "interface='org.freedesktop.Avahi.EntryGroup',member='StateChanged'",
                       nullptr);
    for (const char* iface : {kResolverInterface, kRecordBrowserInterface}) {
      std::string rule =
          std::string("type='signal',sender='org.freedesktop.Avahi',interface='") + iface + "'";
      dbus_bus_add_match(bus, rule.c_str(), nullptr);
    }
    conns.push_back(c);
    if (conns.size() > 1)
      log::debug(kTag, "opened publishing connection #", conns.size(), " to avahi-daemon");
    scheduleDispatch(*c);
    return c;
  }

  void close(Conn& c) {
    if (c.bus == nullptr)
      return;
    c.dead = true;
    c.urgent.clear();
    c.fresh.clear();
    c.calls.clear();
    dbus_connection_set_dispatch_status_function(c.bus, nullptr, nullptr, nullptr);
    // Removes our watches and timeouts through the remove functions.
    dbus_connection_set_watch_functions(c.bus, nullptr, nullptr, nullptr, nullptr, nullptr);
    dbus_connection_set_timeout_functions(c.bus, nullptr, nullptr, nullptr, nullptr, nullptr);
    dbus_connection_remove_filter(c.bus, &Impl::filter, &c);
    dbus_connection_close(c.bus);
    dbus_connection_unref(c.bus);
    c.bus = nullptr;
    poll->timeout_free(c.dispatch);
    c.dispatch = nullptr;
  }

  // ---- bursts --------------------------------------------------------------------------------

  // A group published now is part of a burst: it waits before the daemon gets it.
  bool burst(std::chrono::steady_clock::time_point now) {
    recent.push_back(now);
    while (recent.size() > static_cast<std::size_t>(kBurstGroups))
      recent.pop_front();
    return selfAnnounce() && recent.size() == static_cast<std::size_t>(kBurstGroups) &&
           now - recent.front() <= kBurstWindow;
  }

  void wait(Handle h, std::chrono::steady_clock::time_point now) {
    waiting.emplace_back(now, h);
    if (!handOverTimer->armed())
      handOverTimer->arm(kHandOverAfter);
  }

  // The waiting groups whose time has come go to the daemon, a few at a time.
  void handOver() {
    auto now = std::chrono::steady_clock::now();
    int sent = 0;
    while (!waiting.empty() && now - waiting.front().first >= kHandOverAfter &&
           sent < kHandOverBatch) {
      Handle h = waiting.front().second;
      waiting.pop_front();
      auto it = groups.find(h);
      if (it == groups.end() || it->second.state != GroupState::Waiting)
        continue;  // freed meanwhile
      it->second.state = GroupState::Creating;
      create(*it->second.conn, h);
      ++sent;
    }
    if (waiting.empty())
      return;
    if (sent == kHandOverBatch) {
      handOverTimer->arm(kHandOverTick);
      return;
    }
    auto due = waiting.front().first + kHandOverAfter;
    handOverTimer->arm(std::max(std::chrono::ceil<std::chrono::milliseconds>(due - now),
                                std::chrono::milliseconds(1)));
  }

  void reset() {
    waiting.clear();
    recent.clear();
    handOverTimer->disarm();
    if (selfAnnounce()) {
      settle();
      for (auto& [id, records] : goodbyes)
        announcer.goodbye(records);
      announcer.withdrawAll();
    }
    goodbyes.clear();
    groups.clear();
    lookups.clear();
    live = 0;
    auto old = std::move(conns);
    conns.clear();
    for (const auto& c : old)
      close(*c);
  }

  // ---- the loop glue -------------------------------------------------------------------------

  static dbus_bool_t addWatch(DBusWatch* w, void* data) {
    auto* conn = static_cast<Conn*>(data);
    auto* wd = new WatchData{conn, w};
    AvahiWatchEvent ev =
        dbus_watch_get_enabled(w) ? toAvahi(dbus_watch_get_flags(w)) : AvahiWatchEvent{};
    wd->avahi = conn->impl->poll->watch_new(conn->impl->poll, dbus_watch_get_unix_fd(w), ev,
                                            &Impl::onWatch, wd);
    if (wd->avahi == nullptr) {
      delete wd;
      return FALSE;
    }
    dbus_watch_set_data(w, wd, nullptr);
    return TRUE;
  }

  static void removeWatch(DBusWatch* w, void* data) {
    auto* conn = static_cast<Conn*>(data);
    auto* wd = static_cast<WatchData*>(dbus_watch_get_data(w));
    if (wd == nullptr)
      return;
    conn->impl->poll->watch_free(wd->avahi);
    dbus_watch_set_data(w, nullptr, nullptr);
    delete wd;
  }

  static void toggleWatch(DBusWatch* w, void* data) {
    auto* conn = static_cast<Conn*>(data);
    auto* wd = static_cast<WatchData*>(dbus_watch_get_data(w));
    if (wd == nullptr)
      return;
    conn->impl->poll->watch_update(wd->avahi, dbus_watch_get_enabled(w)
                                                  ? toAvahi(dbus_watch_get_flags(w))
                                                  : AvahiWatchEvent{});
  }

  static void onWatch(AvahiWatch*, int, AvahiWatchEvent event, void* data) {
    auto* wd = static_cast<WatchData*>(data);
    Conn* conn = wd->conn;
    auto keep = conn->shared_from_this();  // a callback may reset() everything
    guarded(kTag, "D-Bus watch", [&] {
      dbus_watch_handle(wd->watch, toDbus(event));  // may remove this very watch
      if (conn->bus != nullptr)
        conn->impl->scheduleDispatch(*conn);
    });
  }

  static void armTimeout(const AvahiPoll* poll, TimeoutData* td) {
    if (!dbus_timeout_get_enabled(td->timeout)) {
      poll->timeout_update(td->avahi, nullptr);
      return;
    }
    timeval tv;
    avahi_elapse_time(&tv, static_cast<unsigned>(dbus_timeout_get_interval(td->timeout)), 0);
    poll->timeout_update(td->avahi, &tv);
  }

  static dbus_bool_t addTimeout(DBusTimeout* t, void* data) {
    auto* conn = static_cast<Conn*>(data);
    auto* td = new TimeoutData{conn, t};
    td->avahi = conn->impl->poll->timeout_new(conn->impl->poll, nullptr, &Impl::onTimeout, td);
    if (td->avahi == nullptr) {
      delete td;
      return FALSE;
    }
    dbus_timeout_set_data(t, td, nullptr);
    armTimeout(conn->impl->poll, td);
    return TRUE;
  }

  static void removeTimeout(DBusTimeout* t, void* data) {
    auto* conn = static_cast<Conn*>(data);
    auto* td = static_cast<TimeoutData*>(dbus_timeout_get_data(t));
    if (td == nullptr)
      return;
    conn->impl->poll->timeout_free(td->avahi);
    dbus_timeout_set_data(t, nullptr, nullptr);
    delete td;
  }

  static void toggleTimeout(DBusTimeout* t, void* data) {
    auto* conn = static_cast<Conn*>(data);
    if (auto* td = static_cast<TimeoutData*>(dbus_timeout_get_data(t)))
      armTimeout(conn->impl->poll, td);
  }

  static void onTimeout(AvahiTimeout*, void* data) {
    auto* td = static_cast<TimeoutData*>(data);
    Conn* conn = td->conn;
    auto keep = conn->shared_from_this();
    const AvahiPoll* poll = conn->impl->poll;
    guarded(kTag, "D-Bus timeout", [&] {
      // A D-Bus timeout repeats until it is removed or disabled; handling may remove it.
      armTimeout(poll, td);
      dbus_timeout_handle(td->timeout);
      if (conn->bus != nullptr)
        conn->impl->scheduleDispatch(*conn);
    });
  }

  static void dispatchStatus(DBusConnection*, DBusDispatchStatus status, void* data) {
    auto* conn = static_cast<Conn*>(data);
    if (status == DBUS_DISPATCH_DATA_REMAINS && conn->dispatch != nullptr) {
      timeval now{0, 0};
      conn->impl->poll->timeout_update(conn->dispatch, &now);
    }
  }

  void scheduleDispatch(Conn& c) {
    if (c.bus != nullptr &&
        dbus_connection_get_dispatch_status(c.bus) == DBUS_DISPATCH_DATA_REMAINS) {
      timeval now{0, 0};
      poll->timeout_update(c.dispatch, &now);
    }
  }

  static void onDispatch(AvahiTimeout*, void* data) {
    auto* conn = static_cast<Conn*>(data);
    auto keep = conn->shared_from_this();
    guarded(kTag, "D-Bus dispatch", [&] {
      conn->impl->poll->timeout_update(conn->dispatch, nullptr);
      DBusConnection* bus = conn->bus;
      dbus_connection_ref(bus);
      int n = 0;
      while (n++ < kDispatchBatch && dbus_connection_dispatch(bus) == DBUS_DISPATCH_DATA_REMAINS) {
      }
      dbus_connection_unref(bus);
      if (conn->bus != nullptr)
        conn->impl->scheduleDispatch(*conn);
    });
  }

  // ---- calls ---------------------------------------------------------------------------------

  static Message methodCall(const char* path, const char* interface, const char* method) {
    DBusMessage* m = dbus_message_new_method_call(kAvahi, path, interface, method);
    if (m == nullptr)
      throw std::bad_alloc();
    return Message(m);
  }

  // Asks the daemon for the group's entry group; its records follow the answer.
  void create(Conn& c, Handle group) {
    send(c, methodCall("/", kServerInterface, "EntryGroupNew"), group, Call::New, false);
  }

  void send(Conn& c, Message m, Handle group, Call call, bool urgent, std::uint64_t goodbye = 0) {
    (urgent ? c.urgent : c.fresh).push_back(Outgoing{std::move(m), group, call, goodbye});
    pump(c);
  }

  void pump(Conn& c) {
    while (!c.dead && c.calls.size() < kMaxInFlight && (!c.urgent.empty() || !c.fresh.empty())) {
      auto& queue = c.urgent.empty() ? c.fresh : c.urgent;
      Outgoing out = std::move(queue.front());
      queue.pop_front();
      // No timeout: a call the daemon answers late still takes effect there, and a group we
      // had given up on would live on uncounted. On a lost connection close() forgets the calls.
      dbus_uint32_t serial = 0;
      if (!dbus_connection_get_is_connected(c.bus) ||
          !dbus_connection_send(c.bus, out.message.get(), &serial)) {
        lost(c);
        return;
      }
      c.calls.emplace(serial, Pending{out.group, out.call, out.goodbye});
    }
  }

  // The bus went away: nothing more is sent here, and libdbus drops the calls without replies.
  // The owner sees avahi-daemon go too and calls reset().
  void lost(Conn& c) {
    if (!c.dead)
      log::warning(kTag, "lost the system bus connection used for publishing");
    c.dead = true;
    c.urgent.clear();
    c.fresh.clear();
  }

  // A method return or error for one of our calls (from the filter); false for any other.
  static bool onReply(Conn& c, DBusMessage* reply) {
    int type = dbus_message_get_type(reply);
    if (type != DBUS_MESSAGE_TYPE_METHOD_RETURN && type != DBUS_MESSAGE_TYPE_ERROR)
      return false;
    auto it = c.calls.find(dbus_message_get_reply_serial(reply));
    if (it == c.calls.end())
      return false;
    Pending pending = it->second;
    c.calls.erase(it);
    std::shared_ptr<Conn> keep = c.shared_from_this();  // a callback may reset() everything
    guarded(kTag, "D-Bus reply", [&] {
      if (c.dead)
        return;
      c.impl->replied(keep, pending.group, pending.call, reply);
      if (pending.goodbye != 0)
        c.impl->sayGoodbye(pending.goodbye);
      if (!c.dead)
        c.impl->pump(c);
    });
    return true;
  }

  void replied(const std::shared_ptr<Conn>& c, Handle h, Call call, DBusMessage* reply) {
    bool failed = reply == nullptr || dbus_message_get_type(reply) == DBUS_MESSAGE_TYPE_ERROR;
    if (call == Call::LookupNew || call == Call::LookupFree)
      return lookupReplied(*c, h, call, failed, reply);
    if (call == Call::Free) {
      if (failed)
        log::debug(kTag, "freeing an entry group: ", errorText(reply));
      // h: the group that replaces the freed one on another connection, if any.
      auto waiter = groups.find(h);
      if (waiter != groups.end() && --waiter->second.waitFrees == 0 &&
          waiter->second.state == GroupState::Live) {
        sendRecords(h, waiter->second);
      }
      return;
    }
    auto it = groups.find(h);
    if (it == groups.end())
      return;
    Group& g = it->second;
    if (call == Call::New) {
      const char* path = nullptr;
      if (!failed &&
          !dbus_message_get_args(reply, nullptr, DBUS_TYPE_OBJECT_PATH, &path, DBUS_TYPE_INVALID)) {
        failed = true;
      }
      if (failed) {
        --c->objects;
        if (g.freed) {
          groups.erase(it);
          return;
        }
        fail(h, g, errorText(reply));
        return;
      }
      g.path = path;
      if (g.freed) {
        sendFree(*c, g.path);
        --c->objects;
        groups.erase(it);
        return;
      }
      g.state = GroupState::Live;
      c->paths[g.path] = h;
      if (g.waitFrees == 0)
        sendRecords(h, g);
      return;
    }
    if (failed && g.state != GroupState::Failed)
      fail(h, g, errorText(reply));
    else if (call == Call::Commit && g.state == GroupState::Live && !g.freed && events)
      events(h, Event::Committed, "");
  }

  void sendRecords(Handle h, Group& g) {
    Conn& c = *g.conn;
    for (const Record& r : g.records) {
      if (Message m = addRecord(g.path, r))
        send(c, std::move(m), h, Call::AddRecord, true);
      else
        return fail(h, g, "record " + r.name + ": not a valid domain name");
    }
    send(c, methodCall(g.path.c_str(), kGroupInterface, "Commit"), h, Call::Commit, true);
  }

  // Reports the failure and withdraws what the daemon has of the group (a commit may follow
  // the failed call in the queue).
  void fail(Handle h, Group& g, const std::string& why) {
    g.state = GroupState::Failed;
    if (!g.path.empty()) {
      sendFree(*g.conn, g.path, 0, letGo(g, true));
      --g.conn->objects;
      g.path.clear();
    } else {
      letGo(g, false);
    }
    if (events)
      events(h, Event::Failure, why);
    else
      log::error(kTag, "cannot publish ", g.label, ": ", why);
  }

  static Message addRecord(const std::string& path, const Record& r) {
    // libdbus aborts on a string that is not UTF-8; Avahi refuses names it cannot publish.
    if (!dbus_validate_utf8(r.name.c_str(), nullptr) ||
        !avahi_is_valid_domain_name(r.name.c_str())) {
      return nullptr;
    }
    // The arguments go in before the header fields: libdbus rewrites the header's SIGNATURE
    // field after each argument, and with the destination, path, interface and member already
    // in the header an AddRecord took 14 us to build, 6 us this way (a burst's thousand imports
    // handed to the daemon are 3,000 of them).
    Message m(dbus_message_new(DBUS_MESSAGE_TYPE_METHOD_CALL));
    if (m == nullptr)
      throw std::bad_alloc();
    std::int32_t iface = r.iface;
    std::int32_t proto = r.protocol;
    std::uint32_t flags = r.flags;
    const char* name = r.name.c_str();
    std::uint16_t cls = kClassIn;
    std::uint16_t type = r.type;
    std::uint32_t ttl = r.ttl;
    static const std::uint8_t kEmpty = 0;
    const std::uint8_t* rdata = r.rdata.empty() ? &kEmpty : r.rdata.data();
    int size = static_cast<int>(r.rdata.size());
    if (!dbus_message_append_args(m.get(), DBUS_TYPE_INT32, &iface, DBUS_TYPE_INT32, &proto,
                                  DBUS_TYPE_UINT32, &flags, DBUS_TYPE_STRING, &name,
                                  DBUS_TYPE_UINT16, &cls, DBUS_TYPE_UINT16, &type, DBUS_TYPE_UINT32,
                                  &ttl, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &rdata, size,
                                  DBUS_TYPE_INVALID) ||
        !dbus_message_set_destination(m.get(), kAvahi) ||
        !dbus_message_set_path(m.get(), path.c_str()) ||
        !dbus_message_set_interface(m.get(), kGroupInterface) ||
        !dbus_message_set_member(m.get(), "AddRecord")) {
      throw std::bad_alloc();
    }
    return m;
  }

  bool selfAnnounce() const { return announcer.usable(); }

  // Ends the group's hold on its records. Where the daemon may have them, returns them for
  // goodbyes once it has answered the Free: before that it could still answer a query and put
  // them back in a cache. Otherwise the goodbyes go now.
  std::vector<Record> letGo(Group& g, bool daemonMayHaveThem) {
    if (!selfAnnounce() || g.released)
      return {};
    g.released = true;
    announcer.release(g.records);
    if (daemonMayHaveThem)
      return std::move(g.records);
    announcer.goodbye(g.records);
    return {};
  }

  void freeGroup(std::map<Handle, Group>::iterator it, Handle waiter) {
    Group& g = it->second;
    --live;
    if (g.state == GroupState::Waiting) {
      letGo(g, false);  // the daemon never had it: the goodbyes go now
      --g.conn->objects;
      groups.erase(it);
      return;
    }
    if (g.state == GroupState::Creating) {
      letGo(g, false);  // nothing is sent for a group freed before the daemon made it
      g.freed = true;   // when the daemon answers with its path
      return;
    }
    std::shared_ptr<Conn> conn = g.conn;
    if (!g.path.empty()) {
      sendFree(*conn, g.path, waiter, letGo(g, true));
      --conn->objects;
    } else {
      letGo(g, false);
    }
    groups.erase(it);
  }

  void sendFree(Conn& c, const std::string& path, Handle waiter = 0,
                std::vector<Record> goodbye = {}) {
    c.paths.erase(path);
    std::uint64_t id = 0;
    if (!goodbye.empty()) {
      id = ++lastGoodbye;
      goodbyes.emplace(id, std::move(goodbye));
    }
    send(c, methodCall(path.c_str(), kGroupInterface, "Free"), waiter, Call::Free, true, id);
  }

  void sayGoodbye(std::uint64_t id) {
    auto it = goodbyes.find(id);
    if (it == goodbyes.end())
      return;
    announcer.goodbye(it->second);
    goodbyes.erase(it);
  }

  // Before the goodbyes of a reset: the daemon frees every group it has of ours and says when
  // it is done (one blocking call per connection, at most kSettleTimeoutMs each). A goodbye it
  // heard while it still held the record would make it announce the record again.
  void settle() {
    for (const auto& c : conns) {
      if (c->dead || c->bus == nullptr)
        continue;
      bool sent = !c->calls.empty();
      for (const Outgoing& o : c->urgent) {
        if (o.call == Call::Free) {
          dbus_connection_send(c->bus, o.message.get(), nullptr);
          sent = true;
        }
      }
      c->urgent.clear();
      c->fresh.clear();
      for (auto& [h, g] : groups) {
        if (g.conn == c && !g.path.empty()) {
          Message m = methodCall(g.path.c_str(), kGroupInterface, "Free");
          dbus_connection_send(c->bus, m.get(), nullptr);
          sent = true;
        }
      }
      if (!sent)
        continue;
      Message ping = methodCall("/", kServerInterface, "GetAPIVersion");
      DBusError err;
      dbus_error_init(&err);
      DBusMessage* reply =
          dbus_connection_send_with_reply_and_block(c->bus, ping.get(), kSettleTimeoutMs, &err);
      if (reply != nullptr)
        dbus_message_unref(reply);
      dbus_error_free(&err);
    }
  }

  // ---- lookups -------------------------------------------------------------------------------

  Handle startLookup(Message m, std::shared_ptr<ServiceCallback> onService,
                     std::shared_ptr<RecordCallback> onRecord) {
    std::shared_ptr<Conn> conn = connectionWithRoom();
    if (!conn)
      return 0;
    Handle h = ++lastHandle;
    Lookup& l = lookups[h];
    l.conn = conn;
    l.onService = std::move(onService);
    l.onRecord = std::move(onRecord);
    ++conn->objects;
    send(*conn, std::move(m), h, Call::LookupNew, false);
    return h;
  }

  void freeLookup(Handle h) {
    auto it = lookups.find(h);
    if (it == lookups.end() || it->second.freed)
      return;
    Lookup& l = it->second;
    if (l.path.empty()) {
      l.freed = true;  // freed when the daemon answers with its path
      return;
    }
    sendLookupFree(l);
    lookups.erase(it);
  }

  void sendLookupFree(Lookup& l) {
    Conn& c = *l.conn;
    c.lookupPaths.erase(l.path);
    --c.objects;
    const char* iface = l.onService ? kResolverInterface : kRecordBrowserInterface;
    send(c, methodCall(l.path.c_str(), iface, "Free"), 0, Call::LookupFree, true);
  }

  void lookupReplied(Conn& c, Handle h, Call call, bool failed, DBusMessage* reply) {
    if (call == Call::LookupFree) {
      if (failed)
        log::debug(kTag, "freeing a lookup: ", errorText(reply));
      return;
    }
    auto it = lookups.find(h);
    if (it == lookups.end())
      return;  // not reached: reset() closes the connections, which forgets their calls
    Lookup& l = it->second;
    const char* path = nullptr;
    if (!failed &&
        !dbus_message_get_args(reply, nullptr, DBUS_TYPE_OBJECT_PATH, &path, DBUS_TYPE_INVALID)) {
      failed = true;
    }
    if (failed) {
      --c.objects;
      std::string why = errorText(reply);
      auto onService = l.onService;
      auto onRecord = l.onRecord;
      bool freed = l.freed;
      lookups.erase(it);
      if (freed)
        return;
      if (onService) {
        ServiceFound failure;
        failure.error = why;
        (*onService)(h, failure);
      } else if (onRecord) {
        RecordEvent failure;
        failure.error = why;  // kind: Failure
        (*onRecord)(h, failure);
      }
      return;
    }
    l.path = path;
    c.lookupPaths[l.path] = h;
    if (l.freed) {
      sendLookupFree(l);
      lookups.erase(it);
    }
  }

  // A signal of one of our lookups on this connection; false if it is none.
  bool lookupSignal(Conn& c, DBusMessage* m) {
    bool resolver = dbus_message_has_interface(m, kResolverInterface);
    if (!resolver && !dbus_message_has_interface(m, kRecordBrowserInterface))
      return false;
    const char* path = dbus_message_get_path(m);
    auto p = path ? c.lookupPaths.find(path) : c.lookupPaths.end();
    if (p == c.lookupPaths.end())
      return true;  // freed, or another client's
    Handle h = p->second;
    auto it = lookups.find(h);
    if (it == lookups.end() || it->second.freed)
      return true;
    const char* member = dbus_message_get_member(m);
    std::string_view what = member ? member : "";
    if (resolver && it->second.onService) {
      auto callback = it->second.onService;
      if (std::optional<ServiceFound> found = readService(m, what))
        (*callback)(h, *found);
    } else if (!resolver && it->second.onRecord) {
      auto callback = it->second.onRecord;
      if (std::optional<RecordEvent> event = readRecord(m, what))
        (*callback)(h, *event);
    }
    return true;
  }

  static std::string failureText(DBusMessage* m) {
    const char* error = nullptr;
    if (!dbus_message_get_args(m, nullptr, DBUS_TYPE_STRING, &error, DBUS_TYPE_INVALID))
      return "failed (unreadable reason)";
    return error;
  }

  static std::optional<ServiceFound> readService(DBusMessage* m, std::string_view member) {
    ServiceFound out;
    if (member == "Failure") {
      out.error = failureText(m);
      return out;
    }
    if (member != "Found")
      return std::nullopt;
    std::int32_t iface = 0, proto = 0, aproto = 0;
    const char *name = nullptr, *type = nullptr, *domain = nullptr, *host = nullptr,
               *address = nullptr;
    std::uint16_t port = 0;
    if (!dbus_message_get_args(m, nullptr, DBUS_TYPE_INT32, &iface, DBUS_TYPE_INT32, &proto,
                               DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING, &type, DBUS_TYPE_STRING,
                               &domain, DBUS_TYPE_STRING, &host, DBUS_TYPE_INT32, &aproto,
                               DBUS_TYPE_STRING, &address, DBUS_TYPE_UINT16, &port,
                               DBUS_TYPE_INVALID)) {
      log::warning(kTag, "unreadable resolver answer from avahi-daemon; ignored");
      return std::nullopt;
    }
    DBusMessageIter iter, strings;
    dbus_message_iter_init(m, &iter);
    for (int i = 0; i < 9; ++i)
      dbus_message_iter_next(&iter);
    if (dbus_message_iter_get_arg_type(&iter) != DBUS_TYPE_ARRAY ||
        dbus_message_iter_get_element_type(&iter) != DBUS_TYPE_ARRAY) {
      log::warning(kTag, "resolver answer from avahi-daemon without TXT strings; ignored");
      return std::nullopt;
    }
    dbus_message_iter_recurse(&iter, &strings);
    for (; dbus_message_iter_get_arg_type(&strings) == DBUS_TYPE_ARRAY;
         dbus_message_iter_next(&strings)) {
      if (dbus_message_iter_get_element_type(&strings) != DBUS_TYPE_BYTE)
        continue;
      DBusMessageIter bytes;
      dbus_message_iter_recurse(&strings, &bytes);
      const char* data = nullptr;
      int n = 0;
      dbus_message_iter_get_fixed_array(&bytes, &data, &n);
      if (data != nullptr && n > 0)
        out.txt.emplace_back(data, static_cast<std::size_t>(n));
    }
    out.iface = iface;
    out.protocol = proto;
    out.host = host;
    out.port = port;
    return out;
  }

  static std::optional<RecordEvent> readRecord(DBusMessage* m, std::string_view member) {
    using Kind = RecordEvent::Kind;
    RecordEvent out;
    if (member == "AllForNow" || member == "CacheExhausted") {
      out.kind = member == "AllForNow" ? Kind::AllForNow : Kind::CacheExhausted;
      return out;
    }
    if (member == "Failure") {
      out.error = failureText(m);
      return out;
    }
    if (member != "ItemNew" && member != "ItemRemove")
      return std::nullopt;
    std::int32_t iface = 0, proto = 0;
    const char* name = nullptr;
    std::uint16_t cls = 0, type = 0;
    const std::uint8_t* rdata = nullptr;
    int size = 0;
    if (!dbus_message_get_args(m, nullptr, DBUS_TYPE_INT32, &iface, DBUS_TYPE_INT32, &proto,
                               DBUS_TYPE_STRING, &name, DBUS_TYPE_UINT16, &cls, DBUS_TYPE_UINT16,
                               &type, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &rdata, &size,
                               DBUS_TYPE_INVALID)) {
      log::warning(kTag, "unreadable record browser event from avahi-daemon; ignored");
      return std::nullopt;
    }
    out.kind = member == "ItemNew" ? Kind::New : Kind::Remove;
    out.iface = iface;
    out.protocol = proto;
    out.type = type;
    if (rdata != nullptr && size > 0)
      out.rdata.assign(rdata, rdata + size);
    return out;
  }

  static DBusHandlerResult filter(DBusConnection*, DBusMessage* m, void* data) {
    auto* conn = static_cast<Conn*>(data);
    DBusHandlerResult result = DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
    guarded(kTag, "D-Bus signal", [&] {
      if (dbus_message_is_signal(m, DBUS_INTERFACE_LOCAL, "Disconnected")) {
        conn->impl->lost(*conn);
        result = DBUS_HANDLER_RESULT_HANDLED;
        return;
      }
      if (onReply(*conn, m)) {
        result = DBUS_HANDLER_RESULT_HANDLED;
        return;
      }
      if (dbus_message_get_type(m) == DBUS_MESSAGE_TYPE_SIGNAL &&
          conn->impl->lookupSignal(*conn, m)) {
        result = DBUS_HANDLER_RESULT_HANDLED;
        return;
      }
      if (!dbus_message_is_signal(m, kGroupInterface, "StateChanged"))
        return;
      result = DBUS_HANDLER_RESULT_HANDLED;
      const char* path = dbus_message_get_path(m);
      auto it = path ? conn->paths.find(path) : conn->paths.end();
      std::int32_t state = 0;
      const char* error = "";
      if (it == conn->paths.end() ||
          !dbus_message_get_args(m, nullptr, DBUS_TYPE_INT32, &state, DBUS_TYPE_STRING, &error,
                                 DBUS_TYPE_INVALID)) {
        return;
      }
      if ((state == kStateCollision || state == kStateFailure) && conn->impl->events) {
        conn->impl->events(it->second, state == kStateFailure ? Event::Failure : Event::Collision,
                           error);
      }
    });
    return result;
  }
};

EntryGroups::EntryGroups(EventLoop& loop, EventCallback events)
    : impl_(std::make_unique<Impl>(loop, std::move(events))) {}

EntryGroups::~EntryGroups() = default;

EntryGroups::Handle EntryGroups::publish(std::vector<Record> records, std::string label,
                                         std::vector<Handle> replacing) {
  Handle h = ++impl_->lastHandle;
  // Held before the replaced groups let go: records they share get no goodbye. Announced at
  // once, not when the daemon acknowledges the commit: while it answers a burst of queries
  // avahi-daemon leaves its D-Bus messages waiting for seconds, and receivers take the
  // records from the announcement. The daemon has them for the queries that follow.
  if (impl_->selfAnnounce()) {
    for (Record& r : records)
      r.flags |= AVAHI_PUBLISH_NO_ANNOUNCE;
    impl_->announcer.hold(records);
  }
  // The new group goes on the connection of the first replaced group that has records in the
  // daemon: that Free is sent before the new EntryGroupNew, so the daemon withdraws the old
  // records first (and the object count does not grow). Frees on other connections are waited
  // for. A replaced group still being created has no records, and gets its Free later.
  std::shared_ptr<Impl::Conn> conn;
  int waitFrees = 0;
  for (Handle r : replacing) {
    auto it = impl_->groups.find(r);
    if (it == impl_->groups.end() || it->second.freed)
      continue;
    Impl::Group& old = it->second;
    std::shared_ptr<Impl::Conn> oldConn = old.conn;
    bool hasRecords = !old.path.empty() && !oldConn->dead;
    Handle waiter = 0;
    if (hasRecords && !conn) {
      conn = oldConn;
    } else if (hasRecords && oldConn != conn) {
      waiter = h;
      ++waitFrees;
    }
    impl_->freeGroup(it, waiter);
  }
  if (!conn)
    conn = impl_->connectionWithRoom();
  if (!conn) {
    if (impl_->selfAnnounce())
      impl_->announcer.release(records);
    return 0;
  }
  if (impl_->selfAnnounce())
    impl_->announcer.announce(records);

  Impl::Group& g = impl_->groups[h];
  g.waitFrees = waitFrees;
  g.conn = conn;
  g.label = std::move(label);
  g.records = std::move(records);
  ++conn->objects;
  ++impl_->live;
  auto now = std::chrono::steady_clock::now();
  if (impl_->burst(now) && waitFrees == 0) {
    g.state = Impl::GroupState::Waiting;
    impl_->wait(h, now);
    return h;
  }
  impl_->create(*conn, h);
  return h;
}

void EntryGroups::free(Handle group) {
  auto it = impl_->groups.find(group);
  if (it != impl_->groups.end() && !it->second.freed)
    impl_->freeGroup(it, 0);
}

void EntryGroups::prepare() {
  impl_->prepare();
}

void EntryGroups::reset() {
  impl_->reset();
}

void EntryGroups::useInterface(int iface, int protocol) {
  if (protocol == AVAHI_PROTO_INET || protocol == AVAHI_PROTO_INET6)
    impl_->announcer.useInterface(iface, protocol == AVAHI_PROTO_INET ? AF_INET : AF_INET6);
}

std::size_t EntryGroups::size() const {
  return impl_->live;
}

EntryGroups::Handle EntryGroups::resolveService(int iface, int protocol, const std::string& name,
                                                const std::string& type, const std::string& domain,
                                                ServiceCallback callback) {
  for (const std::string* s : {&name, &type, &domain}) {
    if (!dbus_validate_utf8(s->c_str(), nullptr)) {
      log::warning(kTag, "cannot resolve a service whose name is not UTF-8");
      return 0;
    }
  }
  Message m = Impl::methodCall("/", kServerInterface, "ServiceResolverNew");
  std::int32_t i = iface;
  std::int32_t p = protocol;
  std::int32_t aproto = AVAHI_PROTO_UNSPEC;
  std::uint32_t flags = AVAHI_LOOKUP_NO_ADDRESS;
  const char* n = name.c_str();
  const char* t = type.c_str();
  const char* d = domain.c_str();
  if (!dbus_message_append_args(m.get(), DBUS_TYPE_INT32, &i, DBUS_TYPE_INT32, &p, DBUS_TYPE_STRING,
                                &n, DBUS_TYPE_STRING, &t, DBUS_TYPE_STRING, &d, DBUS_TYPE_INT32,
                                &aproto, DBUS_TYPE_UINT32, &flags, DBUS_TYPE_INVALID)) {
    throw std::bad_alloc();
  }
  return impl_->startLookup(std::move(m), std::make_shared<ServiceCallback>(std::move(callback)),
                            nullptr);
}

EntryGroups::Handle EntryGroups::browseRecords(int iface, int protocol, const std::string& name,
                                               std::uint16_t type, RecordCallback callback) {
  if (!dbus_validate_utf8(name.c_str(), nullptr)) {
    log::warning(kTag, "cannot browse the records of a name that is not UTF-8");
    return 0;
  }
  Message m = Impl::methodCall("/", kServerInterface, "RecordBrowserNew");
  std::int32_t i = iface;
  std::int32_t p = protocol;
  const char* n = name.c_str();
  std::uint16_t cls = kClassIn;
  std::uint32_t flags = 0;
  if (!dbus_message_append_args(m.get(), DBUS_TYPE_INT32, &i, DBUS_TYPE_INT32, &p, DBUS_TYPE_STRING,
                                &n, DBUS_TYPE_UINT16, &cls, DBUS_TYPE_UINT16, &type,
                                DBUS_TYPE_UINT32, &flags, DBUS_TYPE_INVALID)) {
    throw std::bad_alloc();
  }
  return impl_->startLookup(std::move(m), nullptr,
                            std::make_shared<RecordCallback>(std::move(callback)));
}

void EntryGroups::freeLookup(Handle lookup) {
  impl_->freeLookup(lookup);
}

}  // namespace z2z::mdns
