// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <chrono>
#include <functional>
#include <memory>

struct AvahiPoll;

namespace z2z::mdns {

/// The process's main loop: an AvahiSimplePoll, as avahi-daemon and its clients use, extended
/// with a thread-safe work queue (an eventfd the loop watches) and file-descriptor watches.
/// Everything but post() and quit() belongs to the loop thread.
class EventLoop {
 public:
  /// A one-shot timer; destroying it cancels it.
  class Timer {
   public:
    virtual ~Timer() = default;
    /// (Re)arms the timer to fire once after `delay`.
    virtual void arm(std::chrono::milliseconds delay) = 0;
    virtual void disarm() = 0;
    virtual bool armed() const = 0;
  };

  /// A readability (or writability) watch on a file descriptor; destroying it removes the watch,
  /// also from inside its own callback. A watch fires while its condition holds: a callback must
  /// read (or write) what is ready, or remove the watch, or the loop turns to nothing else (it
  /// runs one callback per turn, the newest ready watch first).
  class Watch {
   public:
    virtual ~Watch() = default;
  };

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  /// Runs until quit(). Throws z2z::Error if polling fails.
  void run();
  /// Makes run() return. Any thread.
  void quit();
  /// Queues `work` to run on the loop thread. Any thread; never blocks on the loop.
  void post(std::function<void()> work);

  std::unique_ptr<Timer> timer(std::function<void()> callback);
  std::unique_ptr<Watch> watchReadable(int fd, std::function<void()> callback);
  std::unique_ptr<Watch> watchWritable(int fd, std::function<void()> callback);

  /// The Avahi poll API of this loop, for the Avahi client. Loop thread only.
  const AvahiPoll* avahiPoll() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace z2z::mdns
