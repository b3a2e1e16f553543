// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/mdns/event_loop.hpp"

#include <avahi-common/simple-watch.h>
#include <avahi-common/timeval.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>

#include "z2z/config/error.hpp"
#include "z2z/config/guard.hpp"
#include "z2z/config/log.hpp"

namespace z2z::mdns {
namespace {

constexpr std::string_view kTag = "loop";

class AvahiTimer final : public EventLoop::Timer {
 public:
  AvahiTimer(const AvahiPoll* poll, std::function<void()> cb) : poll_(poll), cb_(std::move(cb)) {
    timeout_ = poll_->timeout_new(poll_, nullptr, &AvahiTimer::fire, this);
    if (timeout_ == nullptr)
      throw Error("cannot create a timer");
  }
  ~AvahiTimer() override { poll_->timeout_free(timeout_); }

  void arm(std::chrono::milliseconds delay) override {
    timeval tv{};
    avahi_elapse_time(&tv, static_cast<unsigned>(delay.count()), 0);
    poll_->timeout_update(timeout_, &tv);
    armed_ = true;
  }
  void disarm() override {
    poll_->timeout_update(timeout_, nullptr);
    armed_ = false;
  }
  bool armed() const override { return armed_; }

 private:
  static void fire(AvahiTimeout* t, void* self) {
    auto* timer = static_cast<AvahiTimer*>(self);
    timer->poll_->timeout_update(t, nullptr);
    timer->armed_ = false;
    // A copy, so that the callback may destroy its own timer.
    std::function<void()> cb = timer->cb_;
    guarded(kTag, "timer", cb);
  }

  const AvahiPoll* poll_;
  std::function<void()> cb_;
  AvahiTimeout* timeout_ = nullptr;
  bool armed_ = false;
};

class AvahiFdWatch final : public EventLoop::Watch {
 public:
  AvahiFdWatch(const AvahiPoll* poll, int fd, AvahiWatchEvent event, std::function<void()> cb)
      : poll_(poll), cb_(std::move(cb)) {
    watch_ = poll_->watch_new(poll_, fd, event, &AvahiFdWatch::fire, this);
    if (watch_ == nullptr)
      throw Error("cannot watch descriptor " + std::to_string(fd));
  }
  ~AvahiFdWatch() override { poll_->watch_free(watch_); }

 private:
  static void fire(AvahiWatch*, int, AvahiWatchEvent, void* self) {
    // A copy, so that the callback may destroy its own watch (avahi frees it after dispatch).
    std::function<void()> cb = static_cast<AvahiFdWatch*>(self)->cb_;
    guarded(kTag, "descriptor watch", cb);
  }
  const AvahiPoll* poll_;
  std::function<void()> cb_;
  AvahiWatch* watch_ = nullptr;
};

}  // namespace

struct EventLoop::Impl {
  AvahiSimplePoll* simple = nullptr;
  int wakeFd = -1;
  std::unique_ptr<Watch> wakeWatch;
  std::mutex mutex;
  std::deque<std::function<void()>> queue;

  void drain() {
    std::uint64_t n = 0;
    while (::read(wakeFd, &n, sizeof n) > 0) {
    }
    std::deque<std::function<void()>> work;
    {
      std::lock_guard lock(mutex);
      work.swap(queue);
    }
    for (auto& w : work)
      guarded(kTag, "posted work", w);
  }
};

EventLoop::EventLoop() : impl_(std::make_unique<Impl>()) {
  impl_->simple = avahi_simple_poll_new();
  if (impl_->simple == nullptr)
    throw Error("cannot create the event loop");
  impl_->wakeFd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl_->wakeFd < 0) {
    avahi_simple_poll_free(impl_->simple);
    throw Error(std::string("eventfd: ") + std::strerror(errno));
  }
  impl_->wakeWatch = watchReadable(impl_->wakeFd, [impl = impl_.get()] { impl->drain(); });
}

EventLoop::~EventLoop() {
  impl_->wakeWatch.reset();
  ::close(impl_->wakeFd);
  avahi_simple_poll_free(impl_->simple);
}

void EventLoop::run() {
  if (avahi_simple_poll_loop(impl_->simple) < 0)
    throw Error("the event loop failed to poll");
}

void EventLoop::quit() {
  post([simple = impl_->simple] { avahi_simple_poll_quit(simple); });
}

void EventLoop::post(std::function<void()> work) {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->queue.push_back(std::move(work));
  }
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(impl_->wakeFd, &one, sizeof one);
}

std::unique_ptr<EventLoop::Timer> EventLoop::timer(std::function<void()> callback) {
  return std::make_unique<AvahiTimer>(avahiPoll(), std::move(callback));
}

std::unique_ptr<EventLoop::Watch> EventLoop::watchReadable(int fd, std::function<void()> callback) {
  return std::make_unique<AvahiFdWatch>(avahiPoll(), fd, AVAHI_WATCH_IN, std::move(callback));
}

std::unique_ptr<EventLoop::Watch> EventLoop::watchWritable(int fd, std::function<void()> callback) {
  return std::make_unique<AvahiFdWatch>(avahiPoll(), fd, AVAHI_WATCH_OUT, std::move(callback));
}

const AvahiPoll* EventLoop::avahiPoll() const {
  return avahi_simple_poll_get(impl_->simple);
}

}  // namespace z2z::mdns
