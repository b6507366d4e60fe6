// Metrics (the prometheus-cpp registry wrapper) and MetricsServer, the cpp-httplib endpoint
// of ZIPNET_METRICS (operations.md §6): /metrics, /healthz, /status from a provider, and the
// POST routes the caller registers (fault-injection /debug/*). Handlers run on httplib's pool.
#include <httplib.h>
#include <prometheus/text_serializer.h>

#include <thread>

#include "mosaik/base/metrics_internal.h"

namespace mosaik {

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

std::shared_ptr<Metrics> Metrics::process() {
  static auto* m = new std::shared_ptr<Metrics>(std::make_shared<Metrics>());
  return *m;
}

std::string Metrics::serialize() const {
  return prometheus::TextSerializer().Serialize(impl_->registry->Collect());
}

std::optional<double> Metrics::value(const std::string& name,
                                     const std::map<std::string, std::string>& labels) const {
  for (const auto& fam : impl_->registry->Collect()) {
    if (fam.name != name) continue;
    for (const auto& m : fam.metric) {
      bool match = true;
      for (const auto& [k, v] : labels) {
        bool found = false;
        for (const auto& lp : m.label)
          if (lp.name == k && lp.value == v) found = true;
        if (!found) match = false;
      }
      if (!match) continue;
      if (fam.type == prometheus::MetricType::Counter) return m.counter.value;
      if (fam.type == prometheus::MetricType::Gauge) return m.gauge.value;
    }
  }
  return std::nullopt;
}

struct MetricsServer::Impl {
  httplib::Server server;
  std::thread thread;
  std::string host;
  int port = 0;
};

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::string MetricsServer::bound_address() const {
  return impl_->host + ":" + std::to_string(impl_->port);
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string& addr,
                                                            std::shared_ptr<Metrics> metrics,
                                                            Health health) {
  Routes r;
  r.health = std::move(health);
  return start(addr, std::move(metrics), std::move(r));
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string& addr,
                                                            std::shared_ptr<Metrics> metrics,
                                                            Routes routes) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos) return make_error(ErrorKind::Config, "expected host:port, got '" + addr + "'");
  auto impl = std::make_unique<Impl>();
  impl->host = addr.substr(0, colon);
  if (impl->host.size() > 2 && impl->host.front() == '[') impl->host = impl->host.substr(1, impl->host.size() - 2);
  int port = 0;
  try {
    port = std::stoi(addr.substr(colon + 1));
  } catch (...) {
    return make_error(ErrorKind::Config, "bad port in '" + addr + "'");
  }
  impl->server.Get("/metrics", [metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics->serialize(), "text/plain; version=0.0.4");
  });
  impl->server.Get("/healthz", [health = routes.health](const httplib::Request&, httplib::Response& res) {
    auto [status, body] = health ? health() : std::pair<int, std::string>{200, "ok"};
    res.status = status;
    res.set_content(body, "text/plain");
  });
  if (routes.status) {
    impl->server.Get("/status", [status = routes.status](const httplib::Request&, httplib::Response& res) {
      res.set_content(status(), "application/json");
    });
  }
  auto run_post = [](const Post& handler, const httplib::Request& req, httplib::Response& res) {
    Params params;
    for (const auto& [k, v] : req.params) params.emplace(k, v);  // emplace keeps the first
    auto [status, body] = handler(params);
    res.status = status;
    res.set_content(body, "text/plain");
  };
  for (auto& [path, handler] : routes.post) {
    impl->server.Post(path, [run_post, handler = handler](const httplib::Request& req, httplib::Response& res) {
      run_post(handler, req, res);
    });
  }
  if (!routes.post.empty()) {
    // A bodiless POST without Content-Length (`curl -X POST …`): httplib would wait for EOF to
    // read a body and answer 400 on the keep-alive timeout. The routes take only query
    // parameters, so such a request is answered before httplib reads anything.
    impl->server.set_pre_routing_handler(
        [run_post, post = routes.post](const httplib::Request& req, httplib::Response& res) {
          using R = httplib::Server::HandlerResponse;
          if (req.method != "POST" || req.has_header("Content-Length") || req.has_header("Transfer-Encoding"))
            return R::Unhandled;
          auto it = post.find(req.path);
          if (it == post.end()) return R::Unhandled;
          run_post(it->second, req, res);
          return R::Handled;
        });
  }
  if (port == 0) {
    impl->port = impl->server.bind_to_any_port(impl->host);
    if (impl->port < 0) return make_error(ErrorKind::Io, "cannot bind metrics on " + addr);
  } else {
    if (!impl->server.bind_to_port(impl->host, port))
      return make_error(ErrorKind::Io, "cannot bind metrics on " + addr);
    impl->port = port;
  }
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->server.listen_after_bind(); });
  // httplib's stop() is a no-op until the accept loop runs: a server stopped right after start
  // (a node signalled during boot) would then block its join forever. Wait until it listens.
  for (int i = 0; i < 5000 && !impl->server.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

}  // namespace mosaik
