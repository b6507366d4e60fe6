// `make bench-net`: mosaik streams throughput against plain TLS 1.3 on loopback, in one run.
//   stream_*      1 producer -> 1 consumer, 16 KiB items, over the mosaik stream link (TLS 1.3)
//   tls_echo_*    a TLS 1.3 echo (same SSL_CTX settings: transport::make_ssl_ctx) of the same
//                 bytes in 16 KiB writes; client writer and reader run concurrently
//   stream_tls_ratio = stream_mb_per_s / tls_echo_mb_per_s (target >= 0.7)
// MB = 10^6 bytes. Options: --items N (default 20000), --item-size B (default 16384).
#include <asio.hpp>
#include <asio/ssl.hpp>

#include <openssl/ssl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <string>
#include <thread>

#include "mosaik/base/allocator.h"
#include "mosaik/base/log.h"
#include "mosaik/network/network.h"
#include "mosaik/transport/tls.h"

namespace {

using Clock = std::chrono::steady_clock;
using asio::ip::tcp;

struct Args {
  std::size_t items = 20000;
  std::size_t item_size = 16384;
};

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct StreamResult {
  double items_per_s = 0, mb_per_s = 0;
};

StreamResult bench_stream(const Args& a) {
  using namespace std::chrono_literals;
  mosaik::log::Filter quiet;
  quiet.default_level = mosaik::log::Level::Warn;
  mosaik::log::configure(quiet, mosaik::log::Format::Text);
  auto cfg = [] {
    mosaik::NetworkConfig c;
    c.network_id = mosaik::UniqueId::from("bench.net");
    c.listen = {"127.0.0.1:0"};
    c.discovery.mdns = false;
    c.metrics = std::make_shared<mosaik::Metrics>();
    return c;
  };
  auto p = mosaik::Network::start(cfg());
  if (!p) throw std::runtime_error(p.error().to_string());
  auto cc = cfg();
  cc.discovery.bootstrap = {*mosaik::discovery::parse_bootstrap((*p)->id().hex() + "@" + (*p)->advertised().front())};
  auto c = mosaik::Network::start(cc);
  if (!c) throw std::runtime_error(c.error().to_string());
  const auto id = mosaik::UniqueId::from("bench.stream");
  mosaik::streams::ProducerOptions po;
  po.buffer_size = 1024;
  auto tx = (*p)->streams().raw_producer(id, po);
  if (!tx) throw std::runtime_error(tx.error().to_string());
  mosaik::streams::ConsumerOptions co;
  co.buffer_size = 1024;
  auto rx = (*c)->streams().raw_consumer(id, co);
  if (!tx->consumers().wait_for([](std::size_t n) { return n == 1; }, 15s)) throw std::runtime_error("no consumer");
  zipnet::proto::Bytes item(a.item_size, 0x5a);
  const std::size_t warm = 500;
  std::thread sender([&] {
    for (std::size_t i = 0; i < warm + a.items; ++i)
      if (!tx->send(item, 30s)) throw std::runtime_error("send failed");
  });
  for (std::size_t i = 0; i < warm; ++i)
    if (!rx.recv(30s)) throw std::runtime_error("recv failed (warm-up)");
  auto t0 = Clock::now();
  for (std::size_t i = 0; i < a.items; ++i)
    if (!rx.recv(30s)) throw std::runtime_error("recv failed");
  double s = seconds_since(t0);
  sender.join();
  StreamResult r;
  r.items_per_s = static_cast<double>(a.items) / s;
  r.mb_per_s = static_cast<double>(a.items * a.item_size) / s / 1e6;
  (*c)->shutdown();
  (*p)->shutdown();
  return r;
}

double bench_tls_echo(const Args& a) {
  std::string err;
  auto sctx = asio::ssl::context(mosaik::transport::make_ssl_ctx(zipnet::proto::Secret32::random(), &err));
  auto cctx = asio::ssl::context(mosaik::transport::make_ssl_ctx(zipnet::proto::Secret32::random(), &err));
  asio::io_context sio(1), cio(1);
  tcp::acceptor acc(sio, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto ep = acc.local_endpoint();
  const std::size_t total = a.items * a.item_size;

  // Server: accept one connection, echo every byte back.
  asio::co_spawn(
      sio,
      [&]() -> asio::awaitable<void> {
        auto sock = co_await acc.async_accept(asio::use_awaitable);
        sock.set_option(tcp::no_delay(true));
        asio::ssl::stream<tcp::socket> s(std::move(sock), sctx);
        co_await s.async_handshake(asio::ssl::stream_base::server, asio::use_awaitable);
        std::vector<std::uint8_t> buf(64 * 1024);
        std::size_t echoed = 0;
        while (echoed < total) {
          std::error_code ec;
          auto n = co_await s.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
          if (ec) break;
          co_await asio::async_write(s, asio::buffer(buf.data(), n), asio::use_awaitable);
          echoed += n;
        }
      },
      asio::detached);
  std::thread st([&] { sio.run(); });

  double secs = 0;
  asio::co_spawn(
      cio,
      [&]() -> asio::awaitable<void> {
        tcp::socket sock(cio);
        co_await sock.async_connect(ep, asio::use_awaitable);
        sock.set_option(tcp::no_delay(true));
        auto s = std::make_shared<asio::ssl::stream<tcp::socket>>(std::move(sock), cctx);
        mosaik::transport::offer_alpn(s->native_handle(), mosaik::transport::kAlpnStreams);
        co_await s->async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
        auto t0 = Clock::now();
        // Writer: 16 KiB writes (as many as the stream sends items); reader: drain the echo.
        asio::co_spawn(
            cio,
            [s, &a]() -> asio::awaitable<void> {
              std::vector<std::uint8_t> item(a.item_size, 0x5a);
              for (std::size_t i = 0; i < a.items; ++i)
                co_await asio::async_write(*s, asio::buffer(item), asio::use_awaitable);
            },
            asio::detached);
        std::vector<std::uint8_t> buf(64 * 1024);
        std::size_t got = 0;
        while (got < total) got += co_await s->async_read_some(asio::buffer(buf), asio::use_awaitable);
        secs = seconds_since(t0);
      },
      asio::detached);
  cio.run();
  sio.stop();
  st.join();
  return static_cast<double>(total) / secs / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  mosaik::tune_process_allocator();  // as the zipnet binary does (mosaik/base/allocator.h)
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--items") a.items = std::strtoull(argv[i + 1], nullptr, 10);
    else if (k == "--item-size") a.item_size = std::strtoull(argv[i + 1], nullptr, 10);
    else {
      std::fprintf(stderr, "usage: zipnet_bench_net [--items N] [--item-size B]\n");
      return 2;
    }
  }
  try {
    double tls = bench_tls_echo(a);
    auto s = bench_stream(a);
    std::printf("item_bytes=%zu\nitems=%zu\n", a.item_size, a.items);
    std::printf("stream_items_per_s=%.0f\nstream_mb_per_s=%.1f\n", s.items_per_s, s.mb_per_s);
    std::printf("tls_echo_mb_per_s=%.1f\nstream_tls_ratio=%.2f\n", tls, s.mb_per_s / tls);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-net failed: %s\n", e.what());
    return 1;
  }
  return 0;
}
