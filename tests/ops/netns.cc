#include "ops/netns.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <mutex>
#include <stdexcept>

#include "ops/process.h"
#include "ops/util.h"

namespace zipnet::ops {
namespace {

// Namespace names owned by this process, readable from the signal handler.
constexpr int kMaxNs = 256;
constexpr int kNameLen = 96;
char g_ns_names[kMaxNs][kNameLen];
std::atomic<bool> g_ns_used[kMaxNs];

void remove_ns_signal_safe(const char* name) {
  char path[kNameLen + 16] = "/run/netns/";
  size_t n = std::strlen(path);
  for (size_t i = 0; name[i] && n + 1 < sizeof path; ++i) path[n++] = name[i];
  path[n] = '\0';
  ::umount2(path, MNT_DETACH);
  ::unlink(path);
}

void cleanup_all_ns() {
  for (int i = 0; i < kMaxNs; ++i)
    if (g_ns_used[i].exchange(false)) remove_ns_signal_safe(g_ns_names[i]);
}

void track_ns(const std::string& name) {
  register_cleanup(&cleanup_all_ns, /*signal_safe=*/true);
  for (int i = 0; i < kMaxNs; ++i) {
    if (g_ns_used[i].load()) continue;
    std::strncpy(g_ns_names[i], name.c_str(), kNameLen - 1);
    g_ns_names[i][kNameLen - 1] = '\0';
    g_ns_used[i].store(true);
    return;
  }
}

void untrack_ns(const std::string& name) {
  for (int i = 0; i < kMaxNs; ++i)
    if (g_ns_used[i].load() && name == g_ns_names[i]) g_ns_used[i].store(false);
}

void delete_ns(const std::string& name) {
  untrack_ns(name);
  if (run_command({"ip", "netns", "del", name}) != 0) remove_ns_signal_safe(name.c_str());
}

// Namespaces named znops-<pid>-... whose pid is gone were left by a killed harness.
void remove_stale_namespaces() {
  DIR* d = ::opendir("/run/netns");
  if (!d) return;
  std::vector<std::string> stale;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.rfind("znops-", 0) != 0) continue;
    pid_t pid = static_cast<pid_t>(std::atol(n.c_str() + 6));
    if (pid > 0 && pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH) stale.push_back(n);
  }
  ::closedir(d);
  for (auto& n : stale) delete_ns(n);
}

void enter_netns(const std::string& ns) {
  std::string p = "/run/netns/" + ns;
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + p + ": " + std::strerror(errno));
  int rc = ::setns(fd, CLONE_NEWNET);
  int err = errno;
  ::close(fd);
  if (rc != 0) throw std::runtime_error("setns " + ns + ": " + std::strerror(err));
}

}  // namespace

void run_in_netns(const std::string& ns, const std::function<void()>& fn) {
  if (ns.empty()) {
    fn();
    return;
  }
  std::exception_ptr err;
  std::thread t([&] {
    try {
      enter_netns(ns);
      fn();
    } catch (...) {
      err = std::current_exception();
    }
  });
  t.join();
  if (err) std::rethrow_exception(err);
}

std::thread thread_in_netns(const std::string& ns, std::function<void()> fn) {
  return std::thread([ns, fn = std::move(fn)] {
    if (!ns.empty()) enter_netns(ns);
    fn();
  });
}

std::unique_ptr<NetLab> NetLab::create(std::string* why_not) {
  static std::atomic<int> counter{0};
  remove_stale_namespaces();
  std::unique_ptr<NetLab> lab(new NetLab());
  lab->prefix_ = "znops-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  lab->hub_ = lab->prefix_ + "-hub";
  std::string out;
  if (::geteuid() != 0) {
    if (why_not) *why_not = "not running as root (ip netns needs CAP_SYS_ADMIN)";
    return nullptr;
  }
  int rc = run_command({"ip", "netns", "add", lab->hub_}, &out);
  if (rc != 0) {
    if (why_not)
      *why_not = "ip netns add failed (rc=" + std::to_string(rc) + "): " + out;
    return nullptr;
  }
  track_ns(lab->hub_);
  try {
    lab->ip({"-n", lab->hub_, "link", "set", "lo", "up"});
    lab->ip({"-n", lab->hub_, "link", "add", "br0", "type", "bridge"});
    lab->ip({"-n", lab->hub_, "link", "set", "br0", "up"});
  } catch (const std::exception& e) {
    if (why_not) *why_not = std::string("bridge setup failed: ") + e.what();
    return nullptr;  // the destructor removes the hub
  }
  return lab;
}

NetLab::~NetLab() {
  for (auto& [name, h] : hosts_) delete_ns(h.netns);
  if (!hub_.empty()) delete_ns(hub_);
}

void NetLab::ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out;
  int rc = run_command(argv, &out);
  if (rc != 0) {
    std::string cmd;
    for (auto& a : argv) cmd += a + " ";
    throw std::runtime_error("`" + cmd + "` failed (rc=" + std::to_string(rc) + "): " + out);
  }
}

const NetLab::Host& NetLab::add_host(const std::string& name) {
  if (hosts_.count(name)) throw std::runtime_error("NetLab: host " + name + " exists");
  if (next_index_ > 250) throw std::runtime_error("NetLab: too many hosts");
  Host h;
  h.name = name;
  int idx = next_index_++;
  h.netns = prefix_ + "-" + name;
  h.addr = "10.77.0." + std::to_string(idx);
  h.hub_if = "v" + std::to_string(idx);
  ip({"netns", "add", h.netns});
  track_ns(h.netns);
  hosts_[name] = h;
  ip({"-n", h.netns, "link", "set", "lo", "up"});
  ip({"link", "add", "eth0", "netns", h.netns, "type", "veth", "peer", "name", h.hub_if, "netns",
      hub_});
  ip({"-n", hub_, "link", "set", h.hub_if, "master", "br0"});
  ip({"-n", hub_, "link", "set", h.hub_if, "up"});
  ip({"-n", h.netns, "addr", "add", h.addr + "/24", "dev", "eth0"});
  ip({"-n", h.netns, "link", "set", "eth0", "up"});
  return hosts_[name];
}

const NetLab::Host& NetLab::host(const std::string& name) const {
  auto it = hosts_.find(name);
  if (it == hosts_.end()) throw std::runtime_error("NetLab: no host " + name);
  return it->second;
}

std::vector<std::string> NetLab::host_names() const {
  std::vector<std::string> out;
  for (auto& [n, h] : hosts_) out.push_back(n);
  return out;
}

void NetLab::partition(const std::vector<std::vector<std::string>>& groups) {
  for (const auto& [host_name, addr] : blackholes_)
    run_command({"ip", "-n", host(host_name).netns, "route", "del", "blackhole", addr + "/32"});
  blackholes_.clear();
  std::map<std::string, size_t> group_of;
  for (size_t g = 0; g < groups.size(); ++g)
    for (const auto& n : groups[g]) {
      host(n);  // throws on unknown names
      group_of[n] = g;
    }
  for (const auto& [a, ga] : group_of)
    for (const auto& [b, gb] : group_of)
      if (ga != gb) {
        ip({"-n", host(a).netns, "route", "add", "blackhole", host(b).addr + "/32"});
        blackholes_.insert({a, host(b).addr});
      }
}

void NetLab::heal() {
  for (const auto& [host_name, addr] : blackholes_)
    run_command({"ip", "-n", host(host_name).netns, "route", "del", "blackhole", addr + "/32"});
  blackholes_.clear();
  for (const auto& n : std::set<std::string>(down_)) reconnect(n);
}

void NetLab::disconnect(const std::string& name) {
  ip({"-n", host(name).netns, "link", "set", "eth0", "down"});
  down_.insert(name);
}

void NetLab::reconnect(const std::string& name) {
  const Host& h = host(name);
  ip({"-n", h.netns, "link", "set", "eth0", "up"});
  // Bringing the link down removed the prefix route with it only on some kernels; re-add
  // the address route if needed (harmless when present).
  run_command({"ip", "-n", h.netns, "route", "replace", "10.77.0.0/24", "dev", "eth0", "src",
               h.addr});
  down_.erase(name);
}

int NetLab::exec_in(const std::string& host_name, const std::vector<std::string>& argv,
                    std::string* out) const {
  std::vector<std::string> full = {"ip", "netns", "exec", host(host_name).netns};
  full.insert(full.end(), argv.begin(), argv.end());
  return run_command(full, out);
}

}  // namespace zipnet::ops
