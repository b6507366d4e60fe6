// Network namespaces for partition scenarios (operations.md §11 "network cases"): each host
// gets its own namespace with a veth into a bridge that lives in a hub namespace the lab
// also owns, so no address, link or route is ever added to the caller's namespace. The
// 10.77.0.0/24 addresses exist only inside these namespaces.
//
// A partition adds per-pair blackhole routes inside the namespaces (selective, symmetric);
// `disconnect()` sets a host's veth down (full isolation). Everything is removed by the
// destructor, by the atexit handler and by the SIGTERM/SIGINT handler; namespaces left by a
// SIGKILLed harness (named znops-<pid>-…) are removed by the next lab created on the host.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace zipnet::ops {

/// Runs `fn` on a fresh thread that has entered network namespace `ns` (/run/netns/<ns>);
/// sockets it creates belong to that namespace. Exceptions propagate. Empty ns: plain call.
void run_in_netns(const std::string& ns, const std::function<void()>& fn);
/// Starts a long-running thread inside `ns` (e.g. an in-process HTTP server).
std::thread thread_in_netns(const std::string& ns, std::function<void()> fn);

class NetLab {
 public:
  /// Probes the capability by really creating the hub namespace and bridge. Returns null
  /// and sets *why_not when `ip netns` does not work here (not root, no iproute2, ...).
  static std::unique_ptr<NetLab> create(std::string* why_not);
  ~NetLab();
  NetLab(const NetLab&) = delete;
  NetLab& operator=(const NetLab&) = delete;

  struct Host {
    std::string name;
    std::string netns;   // namespace name (for ProcessSpec::netns / run_in_netns)
    std::string addr;    // 10.77.0.<n>, reachable from every other host of the lab
    std::string hub_if;  // the veth end on the bridge
  };
  /// Creates host `name` (namespace + veth + address, lo up). Throws on failure.
  const Host& add_host(const std::string& name);
  const Host& host(const std::string& name) const;
  std::vector<std::string> host_names() const;

  /// Hosts in different groups cannot reach each other (blackhole routes both ways);
  /// hosts named in no group keep full connectivity. Replaces any previous partition.
  void partition(const std::vector<std::vector<std::string>>& groups);
  /// Removes every partition route and brings every disconnected host back up.
  void heal();
  /// Full isolation of one host: its veth goes down (until heal() / reconnect()).
  void disconnect(const std::string& name);
  void reconnect(const std::string& name);

  /// `ip netns exec <ns> argv...` convenience; returns the exit code, output in *out.
  int exec_in(const std::string& host, const std::vector<std::string>& argv,
              std::string* out = nullptr) const;
  const std::string& hub() const { return hub_; }

 private:
  NetLab() = default;
  void ip(const std::vector<std::string>& args);  // throws with ip's output on failure

  std::string prefix_;
  std::string hub_;
  std::map<std::string, Host> hosts_;
  std::set<std::pair<std::string, std::string>> blackholes_;  // (host, peer addr)
  std::set<std::string> down_;
  int next_index_ = 1;
};

}  // namespace zipnet::ops
