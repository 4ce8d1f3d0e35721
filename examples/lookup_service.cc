// lookup_service: a key-value lookup server on a loopback TCP port, answering many connections
// at once out of rcu::HashMap while an updater applies a stream of inserts, updates and deletes,
// plus a load generator that reports latency percentiles.
//
//   ./bazelw run -c opt //examples:lookup_service               # both maps, side by side
//   ./bazelw run -c opt //examples:lookup_service -- --map=shared_mutex --update_rates=50000
//   ./bazelw run -c opt //examples:lookup_service -- --serve --port=7000
//
// With no arguments it runs the demo on rcu::HashMap and on a std::unordered_map under
// std::shared_mutex, each at every rate of --update_rates, and prints one line per run. --serve
// runs only the server (and the updater) until a client sends SHUTDOWN. Without -c opt the
// figures are those of an unoptimized build.
//
// The load generator is open loop: each connection sends GETs on a fixed schedule (--rate
// requests a second in all), whether or not earlier answers have come back, and a request's
// latency runs from the moment the schedule says it should have been sent to the moment its
// answer arrives. A closed-loop generator (send, wait, send) would send less while the server
// stalls and so leave the stall out of its percentiles (coordinated omission); here a stall
// delays every request scheduled during it, as it would delay a real service's clients.
//
// Protocol, one request per line (requests may be pipelined):
//   GET <key>          -> VALUE <value> | MISSING
//   SET <key> <value>  -> OK
//   DEL <key>          -> OK | MISSING
//   STATS              -> STATS size=<n> grace_periods=<n> callbacks_pending=<n>
//   SHUTDOWN           -> BYE, and the server stops
// Keys and values are unsigned 64-bit integers.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "rcu/containers/hash_map.h"
#include "rcu/domain.h"

ABSL_FLAG(std::string, map, "both", "rcu, shared_mutex, or both (one run each)");
ABSL_FLAG(bool, serve, false, "run only the server (and the updater) until SHUTDOWN");
ABSL_FLAG(int, port, 0, "port to listen on (0: any free port)");
ABSL_FLAG(std::string, port_file, "", "write the port the server listens on to this file");
ABSL_FLAG(int, keys, 100000, "keys loaded at start");
ABSL_FLAG(int, connections, 4, "load generator connections");
ABSL_FLAG(int, rate, 40000, "requests a second the load generator sends, over all connections");
ABSL_FLAG(double, seconds, 2, "load generator run time per run");
ABSL_FLAG(int, updates_per_second, 20000, "--serve: the updater's rate (0: no updater)");
ABSL_FLAG(std::vector<std::string>, update_rates, std::vector<std::string>({"1000", "100000"}),
          "the demo: the updater's rates, one run per map and rate");

namespace {

// ---- the stores -----------------------------------------------------------------------------

class Store {
 public:
  virtual ~Store() = default;
  virtual std::optional<uint64_t> Get(uint64_t key) = 0;
  virtual void Set(uint64_t key, uint64_t value) = 0;
  virtual bool Del(uint64_t key) = 0;
  virtual std::string Stats() = 0;
};

class RcuStore : public Store {
 public:
  std::optional<uint64_t> Get(uint64_t key) override {
    rcu::ReadGuard guard(domain_);  // wait-free: no lock, never blocks on the updater
    const uint64_t* v = map_.Find(guard, key);
    return v != nullptr ? std::optional<uint64_t>(*v) : std::nullopt;
  }
  void Set(uint64_t key, uint64_t value) override { map_.InsertOrAssign(key, value); }
  bool Del(uint64_t key) override { return map_.Erase(key); }
  std::string Stats() override {
    const rcu::DomainStats s = domain_.Stats();
    return "size=" + std::to_string(map_.size()) +
           " grace_periods=" + std::to_string(s.grace_periods) +
           " callbacks_pending=" + std::to_string(s.callbacks_pending);
  }

 private:
  rcu::Domain domain_;  // destroyed last: it runs every pending callback
  rcu::HashMap<uint64_t, uint64_t> map_{domain_};
};

class SharedMutexStore : public Store {
 public:
  std::optional<uint64_t> Get(uint64_t key) override {
    std::shared_lock lock(mu_);
    auto it = map_.find(key);
    return it != map_.end() ? std::optional<uint64_t>(it->second) : std::nullopt;
  }
  void Set(uint64_t key, uint64_t value) override {
    std::unique_lock lock(mu_);
    map_[key] = value;
  }
  bool Del(uint64_t key) override {
    std::unique_lock lock(mu_);
    return map_.erase(key) != 0;
  }
  std::string Stats() override {
    std::shared_lock lock(mu_);
    return "size=" + std::to_string(map_.size()) + " grace_periods=0 callbacks_pending=0";
  }

 private:
  std::shared_mutex mu_;
  std::unordered_map<uint64_t, uint64_t> map_;
};

// ---- the server -----------------------------------------------------------------------------

// Reads newline-terminated lines from a socket.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}
  // The next line without its newline, or nullopt at end of stream.
  std::optional<std::string> Next() {
    for (;;) {
      const size_t nl = buffer_.find('\n', start_);
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(start_, nl - start_);
        start_ = nl + 1;
        return line;
      }
      buffer_.erase(0, start_);
      start_ = 0;
      char chunk[4096];
      const ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }
  // Whether a whole line is already buffered (more pipelined requests to answer before flushing).
  bool HasLine() const { return buffer_.find('\n', start_) != std::string::npos; }

 private:
  int fd_;
  std::string buffer_;
  size_t start_ = 0;
};

bool SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

class Server {
 public:
  explicit Server(Store& store) : store_(store) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(absl::GetFlag(FLAGS_port)));
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listen_fd_, 128) != 0) {
      std::perror("lookup_service: bind/listen");
      std::exit(1);
    }
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~Server() {
    Stop();
    acceptor_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mu_);
      threads.swap(connections_);
    }
    for (auto& t : threads) t.join();
    close(listen_fd_);
  }

  int port() const { return port_; }
  bool stopped() const { return stopping_.load(); }

  // Wakes the acceptor and every connection.
  void Stop() {
    if (stopping_.exchange(true)) return;
    shutdown(listen_fd_, SHUT_RDWR);
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);
  }

 private:
  void AcceptLoop() {
    while (!stopping_.load()) {
      const int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_.load()) {
        close(fd);
        break;
      }
      open_fds_.push_back(fd);
      connections_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int fd) {
    LineReader reader(fd);
    std::string out;
    bool shutdown_requested = false;
    while (auto line = reader.Next()) {
      out += Answer(*line, shutdown_requested);
      if (!reader.HasLine() || shutdown_requested) {  // answer a pipelined batch in one send
        if (!SendAll(fd, out)) break;
        out.clear();
      }
      if (shutdown_requested) Stop();  // after the reply is on its way
      if (stopping_.load()) break;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_fds_.erase(std::find(open_fds_.begin(), open_fds_.end(), fd));
    }
    close(fd);
  }

  std::string Answer(const std::string& line, bool& shutdown_requested) {
    char cmd[16] = {};
    uint64_t key = 0, value = 0;
    const int n = std::sscanf(line.c_str(), "%15s %" SCNu64 " %" SCNu64, cmd, &key, &value);
    const std::string_view c(cmd);
    if (c == "GET" && n == 2) {
      const auto v = store_.Get(key);
      return v ? "VALUE " + std::to_string(*v) + "\n" : "MISSING\n";
    }
    if (c == "SET" && n == 3) {
      store_.Set(key, value);
      return "OK\n";
    }
    if (c == "DEL" && n == 2) return store_.Del(key) ? "OK\n" : "MISSING\n";
    if (c == "STATS") return "STATS " + store_.Stats() + "\n";
    if (c == "SHUTDOWN") {
      shutdown_requested = true;
      return "BYE\n";
    }
    return "ERROR unknown request\n";
  }

  Store& store_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> connections_;  // guarded by mu_
  std::vector<int> open_fds_;             // guarded by mu_
};

// Applies inserts, updates and deletes at a steady rate until stopped.
class Updater {
 public:
  Updater(Store& store, uint64_t keys, int rate) {
    if (rate <= 0) return;
    thread_ = std::thread([this, &store, keys, rate] {
      std::mt19937_64 rng(42);
      const auto period = std::chrono::nanoseconds(1000000000LL / rate);
      auto next = std::chrono::steady_clock::now();
      while (!stop_.load()) {
        const uint64_t key = rng() % (keys + keys / 10);  // some keys come and go
        switch (rng() % 4) {
          case 0:
            store.Del(key);
            break;
          default:
            store.Set(key, rng());
        }
        applied_.fetch_add(1, std::memory_order_relaxed);
        next += period;
        std::this_thread::sleep_until(next);
      }
    });
  }
  ~Updater() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  uint64_t applied() const { return applied_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> applied_{0};
  std::thread thread_;
};

// ---- the load generator ---------------------------------------------------------------------

struct LoadResult {
  uint64_t sent = 0;
  double seconds = 0;
  std::vector<double> latencies_us;  // sorted
};

// One connection of the open-loop generator: a sender that follows the schedule (request i is
// due at start + i * period; when it wakes late it sends every request due, pipelined) and a
// receiver that takes the answers in order and measures each from its request's due time.
void RunConnection(int port, uint64_t keys, uint64_t seed, std::chrono::nanoseconds period,
                   std::chrono::steady_clock::time_point start,
                   std::chrono::steady_clock::time_point end, std::vector<double>& latencies,
                   std::atomic<uint64_t>& sent_total) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    std::perror("lookup_service: connect");
    std::exit(1);
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  // Answers come in request order; the receiver reads until the server closes the connection
  // (after the sender's shutdown, once every request is answered).
  std::thread receiver([&] {
    LineReader reader(fd);
    for (uint64_t i = 0; reader.Next(); ++i) {
      const auto due = start + period * i;
      latencies.push_back(
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - due)
              .count());
    }
  });
  std::mt19937_64 rng(seed);
  std::string batch;
  uint64_t i = 0;
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= end) break;
    batch.clear();
    uint64_t due = i;
    while (start + period * due <= now) {
      batch += "GET " + std::to_string(rng() % keys) + "\n";
      ++due;
    }
    if (due > i) {
      if (!SendAll(fd, batch)) break;
      i = due;
    }
    std::this_thread::sleep_until(start + period * i);
  }
  shutdown(fd, SHUT_WR);
  receiver.join();
  sent_total.fetch_add(i);
  close(fd);
}

LoadResult GenerateLoad(int port, uint64_t keys) {
  prctl(PR_SET_TIMERSLACK, 1000UL);  // wake on schedule, not up to 50 us late
  const int connections = absl::GetFlag(FLAGS_connections);
  const auto period =
      std::chrono::nanoseconds(static_cast<int64_t>(1e9 * connections / absl::GetFlag(FLAGS_rate)));
  const auto duration = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(absl::GetFlag(FLAGS_seconds)));
  std::vector<std::vector<double>> latencies(connections);
  std::atomic<uint64_t> sent{0};
  std::vector<std::thread> clients;
  const auto start = std::chrono::steady_clock::now() + std::chrono::milliseconds(10);
  for (int c = 0; c < connections; ++c) {
    // Connections are staggered across one period, so that requests arrive evenly.
    const auto offset = period * c / connections;
    clients.emplace_back([&, c, offset] {
      RunConnection(port, keys, c + 1, period, start + offset, start + duration, latencies[c],
                    sent);
    });
  }
  for (auto& t : clients) t.join();
  LoadResult result;
  result.seconds = std::chrono::duration<double>(duration).count();
  for (auto& l : latencies) {
    result.latencies_us.insert(result.latencies_us.end(), l.begin(), l.end());
  }
  result.sent = sent.load();
  std::sort(result.latencies_us.begin(), result.latencies_us.end());
  return result;
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()))];
}

std::unique_ptr<Store> MakeStore(const std::string& kind) {
  if (kind == "rcu") return std::make_unique<RcuStore>();
  if (kind == "shared_mutex") return std::make_unique<SharedMutexStore>();
  std::fprintf(stderr, "lookup_service: unknown --map=%s\n", kind.c_str());
  std::exit(2);
}

void Load(Store& store, uint64_t keys) {
  for (uint64_t k = 0; k < keys; ++k) store.Set(k, k * 10);
}

int Serve() {
  auto store = MakeStore(absl::GetFlag(FLAGS_map) == "both" ? "rcu" : absl::GetFlag(FLAGS_map));
  const uint64_t keys = static_cast<uint64_t>(absl::GetFlag(FLAGS_keys));
  Load(*store, keys);
  {
    Server server(*store);
    Updater updater(*store, keys, absl::GetFlag(FLAGS_updates_per_second));
    std::printf("lookup_service: serving on 127.0.0.1:%d\n", server.port());
    std::fflush(stdout);
    if (const std::string file = absl::GetFlag(FLAGS_port_file); !file.empty()) {
      std::ofstream(file + ".tmp") << server.port() << "\n";
      std::rename((file + ".tmp").c_str(), file.c_str());
    }
    while (!server.stopped()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  store.reset();  // every retired node is freed here
  std::printf("lookup_service: stopped cleanly\n");
  return 0;
}

int Demo(const std::string& kind, int update_rate) {
  auto store = MakeStore(kind);
  const uint64_t keys = static_cast<uint64_t>(absl::GetFlag(FLAGS_keys));
  Load(*store, keys);
  LoadResult r;
  uint64_t updates = 0;
  {
    Server server(*store);
    Updater updater(*store, keys, update_rate);
    r = GenerateLoad(server.port(), keys);
    updates = updater.applied();
  }
  const double answered = r.latencies_us.size();
  std::printf("%-13s %9d %11.0f %11.0f %9.1f %9.1f %9.1f %9.0f\n", kind.c_str(), update_rate,
              r.sent / r.seconds, answered / r.seconds, Percentile(r.latencies_us, 0.5),
              Percentile(r.latencies_us, 0.99), Percentile(r.latencies_us, 0.999),
              updates / r.seconds);
  std::fflush(stdout);
  return answered > 0 && answered == r.sent ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_serve)) return Serve();
  std::printf(
      "lookup_service: %d keys, %d connections on loopback, %d requests/s (open loop), %.1f s "
      "per run\n\n",
      absl::GetFlag(FLAGS_keys), absl::GetFlag(FLAGS_connections), absl::GetFlag(FLAGS_rate),
      absl::GetFlag(FLAGS_seconds));
  std::printf("%-13s %9s %11s %11s %9s %9s %9s %9s\n", "map", "updates/s", "sent/s", "answered/s",
              "p50 us", "p99 us", "p99.9 us", "applied/s");
  const std::string map = absl::GetFlag(FLAGS_map);
  int rc = 0;
  for (const std::string& rate_text : absl::GetFlag(FLAGS_update_rates)) {
    const int rate = std::atoi(rate_text.c_str());
    if (map == "rcu" || map == "both") rc |= Demo("rcu", rate);
    if (map == "shared_mutex" || map == "both") rc |= Demo("shared_mutex", rate);
  }
  std::printf("%s\n", rc == 0 ? "OK" : "FAILURE");
  return rc;
}
