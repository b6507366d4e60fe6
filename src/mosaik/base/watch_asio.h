// Awaiting a Watch<T> from an Asio coroutine (internal to .cc files: includes Asio).
// until(w, pred, timeout) resumes when pred(value) holds (true) or the timeout passes (false).
#pragma once

#include <asio.hpp>

#include "mosaik/base/watch.h"

namespace mosaik {

template <class T, class Pred>
asio::awaitable<bool> until(const Watch<T>& w, Pred pred, std::chrono::steady_clock::duration timeout) {
  auto ex = co_await asio::this_coro::executor;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto timer = std::make_shared<asio::steady_timer>(ex);
  std::weak_ptr<asio::steady_timer> weak = timer;
  auto sub = w.subscribe([weak, ex](const T&) {
    asio::post(ex, [weak] {
      if (auto t = weak.lock()) t->cancel();
    });
  });
  bool ok = false;
  while (true) {
    if (pred(w.get())) {
      ok = true;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    timer->expires_at(deadline);
    std::error_code ec;
    co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  w.unsubscribe(sub);
  co_return ok;
}

}  // namespace mosaik
