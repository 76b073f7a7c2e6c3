// A network of "hosts" for one test, made of Linux network namespaces the test creates itself:
// a hub namespace holding a bridge, and one namespace per host joined to it by a veth pair, each
// host with its own address in 10.77.0.0/24. Nothing is connected to the machine's own network
// namespace, so no packet leaves the lab. Links can be cut, restored and capped (tc tbf) from
// the hub side. Every namespace is removed when the lab ends, or when a failed CAF_REQUIRE
// aborts the test (tests/process_util.hpp's abort hook).
//
// Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and iproute2; the constructor fails the test with a
// message that says so when the machine forbids namespaces.
#pragma once

#include <sys/mount.h>
#include <sys/stat.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <caf/test/unit_test.hpp>

#include "tests/process_util.hpp"

namespace dmoe::test {

class netns_lab {
public:
  explicit netns_lab(std::string log_dir) : log_dir_(std::move(log_dir)) {
    if (geteuid() != 0)
      CAF_FAIL("the hosts.* tests cannot run as uid " << geteuid() << ": they create network "
               "namespaces, veth pairs and tc qdiscs, which needs root (run ctest as root or "
               "with sudo, or leave them out with ctest -E '^hosts')");
    ip_ = find_tool("ip");
    tc_ = find_tool("tc");
    nsenter_ = find_tool("nsenter");
    if (ip_.empty() || tc_.empty() || nsenter_.empty())
      CAF_FAIL("the hosts.* tests need iproute2's 'ip' and 'tc' (apt install iproute2) and "
               "util-linux's 'nsenter'");
    prefix_ = "dmoe" + std::to_string(getpid()) + "-";
    on_abort(remove_all_namespaces);
    auto [rc, out] = run({ip_, "netns", "add", prefix_ + "hub"});
    if (rc != 0)
      CAF_FAIL("this machine does not let the test create network namespaces ('ip netns add' "
               "failed: "
               << out << "); the hosts.* tests need root with CAP_SYS_ADMIN and CAP_NET_ADMIN");
    remember(prefix_ + "hub");
    must(in(prefix_ + "hub", {ip_, "link", "add", "br0", "type", "bridge"}));
    must(in(prefix_ + "hub", {ip_, "link", "set", "br0", "up"}));
  }

  ~netns_lab() {
    remove_all_namespaces();
  }

  netns_lab(const netns_lab&) = delete;
  netns_lab& operator=(const netns_lab&) = delete;

  /// Adds a host joined to the bridge; returns its address.
  std::string add_host(const std::string& name) {
    auto ns = prefix_ + name;
    auto address = "10.77.0." + std::to_string(2 + hosts_.size());
    must({ip_, "netns", "add", ns});
    remember(ns);
    auto hub_end = hub_interface(name);
    must(in(prefix_ + "hub", {ip_, "link", "add", hub_end, "type", "veth", "peer", "name",
          "eth0", "netns", ns}));
    must(in(prefix_ + "hub", {ip_, "link", "set", hub_end, "master", "br0", "up"}));
    must(in(ns, {ip_, "addr", "add", address + "/24", "dev", "eth0"}));
    must(in(ns, {ip_, "link", "set", "eth0", "up"}));
    must(in(ns, {ip_, "link", "set", "lo", "up"}));
    hosts_[name] = address;
    return address;
  }

  /// Cuts (false) or restores (true) the host's link at the hub: no packet passes either way.
  void set_link(const std::string& name, bool up) {
    must(in(prefix_ + "hub", {ip_, "link", "set", hub_interface(name), up ? "up" : "down"}));
  }

  /// Caps the host's link to `rate` (tc syntax, e.g. "4mbit") in both directions with tbf.
  void cap_link(const std::string& name, const std::string& rate) {
    for (auto [ns, dev] : {std::pair{prefix_ + "hub", hub_interface(name)},
                           std::pair{prefix_ + name, std::string{"eth0"}}})
      must(in(ns, {tc_, "qdisc", "add", "dev", dev, "root", "tbf", "rate", rate, "burst",
            "32kbit", "latency", "5s"}));
  }

  /// `command` run in network namespace `ns`. nsenter joins only the network namespace, where
  /// 'ip -n' and 'ip netns exec' also make a mount namespace and remount / and /sys, which fails
  /// in a chroot (a CI machine's fresh root).
  std::vector<std::string> in(const std::string& ns, std::vector<std::string> command) const {
    std::vector<std::string> argv{nsenter_, "--net=/run/netns/" + ns, "--"};
    argv.insert(argv.end(), command.begin(), command.end());
    return argv;
  }

  /// argv prefix that runs a program inside the host's namespace (the pid stays the program's).
  std::vector<std::string> exec_in(const std::string& name) const {
    return in(prefix_ + name, {});
  }

  /// Runs a command to its end (bounded); returns its exit code (-1: still running after 30 s,
  /// then killed) and output.
  std::pair<int, std::string> run(const std::vector<std::string>& args) {
    auto log = log_dir_ + "/cmd-" + std::to_string(commands_++) + ".log";
    auto p = launch(args, log);
    auto rc = p.pid > 0 ? wait_exit(p.pid, std::chrono::seconds(30)) : 127;
    if (rc == -1) {
      kill(p.pid, SIGKILL);
      wait_exit(p.pid, std::chrono::seconds(5));
    }
    return {rc, read_file(log)};
  }

private:
  static std::string find_tool(const std::string& name) {
    for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"}) {
      struct stat st {};
      if (stat((dir + name).c_str(), &st) == 0)
        return dir + name;
    }
    return {};
  }

  static std::string hub_interface(const std::string& host) {
    return "v" + host.substr(0, 12);
  }

  void must(const std::vector<std::string>& args) {
    auto [rc, out] = run(args);
    if (rc != 0) {
      std::string line;
      for (const auto& a : args)
        line += a + " ";
      CAF_FAIL("setting up the namespaces failed: " << line << "-> " << out);
    }
  }

  // Namespaces are bind mounts under /run/netns: unmounting and unlinking them is what
  // 'ip netns del' does, and both are safe inside a signal handler.
  static constexpr size_t max_namespaces = 16;
  static constexpr size_t max_name = 96;

  static char (&registry())[max_namespaces][max_name] {
    static char names[max_namespaces][max_name] = {};
    return names;
  }

  static void remember(const std::string& ns) {
    for (auto& slot : registry())
      if (slot[0] == '\0') {
        std::snprintf(slot, max_name, "/run/netns/%s", ns.c_str());
        return;
      }
  }

  static void remove_all_namespaces() {
    for (auto& slot : registry())
      if (slot[0] != '\0') {
        umount2(slot, MNT_DETACH);
        unlink(slot);
        slot[0] = '\0';
      }
  }

  std::string log_dir_;
  std::string ip_;
  std::string tc_;
  std::string nsenter_;
  std::string prefix_;
  std::map<std::string, std::string> hosts_;
  size_t commands_ = 0;
};

}  // namespace dmoe::test
