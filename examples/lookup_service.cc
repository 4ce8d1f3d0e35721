// lookup_service: a key-value lookup server on a loopback TCP port, answering many connections
// at once out of rcu::HashMap while an updater applies a stream of inserts, updates and deletes,
// plus a load generator that reports latency percentiles.
//
//   ./bazelw run -c opt //examples:lookup_service               # both maps, side by side
//   ./bazelw run -c opt //examples:lookup_service -- --map=shared_mutex --update_rates=50000
//   ./bazelw run -c opt //examples:lookup_service -- --serve --port=7000
//
// With no arguments it runs the demo on rcu::HashMap and on a std::unordered_map under
// std::shared_mutex, each at every rate of --update_rates. Each case runs --repeats times, in a
// rotated order each round, after a warm-up round that is discarded (so that no case absorbs
// the process's warm-up), and the demo prints each case's medians with their range. --serve
// runs only the server (and the updater) until a client sends SHUTDOWN. Without -c opt the
// figures are those of an unoptimized build.
//
// A slow backend with a cache in front: --backend_latency_us=N makes every GET that reaches the
// store take N us more (a database or a remote service), and --cache=N adds, for each map, a
// case with an rcu::LookupCache of N entries in front of it: GETs go through GetOrLoad (one
// backend query per key however many connections miss it; a missing key is cached as missing),
// SET and DEL write the store and then erase the key from the cache (a query in flight for the
// key is not cached: the cache's K4). --key_skew=s draws the GETs' keys Zipf(s), as a real
// service's are, instead of uniformly.
//
//   ./bazelw run -c opt //examples:lookup_service -- --backend_latency_us=100 --cache=10000
//       --key_skew=0.99 --rate=20000 --update_rates=1000      (one line)
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
#include <cmath>
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
#include "rcu/containers/lookup_cache.h"
#include "rcu/domain.h"

ABSL_FLAG(std::string, map, "both", "rcu, shared_mutex, or both (one run each)");
ABSL_FLAG(bool, serve, false, "run only the server (and the updater) until SHUTDOWN");
ABSL_FLAG(int, port, 0, "port to listen on (0: any free port)");
ABSL_FLAG(std::string, port_file, "", "write the port the server listens on to this file");
ABSL_FLAG(int, keys, 100000, "keys loaded at start");
ABSL_FLAG(int, connections, 4, "load generator connections");
ABSL_FLAG(int, rate, 40000, "requests a second the load generator sends, over all connections");
ABSL_FLAG(double, seconds, 1, "load generator run time per run");
ABSL_FLAG(int, repeats, 3, "the demo: runs of each case (after one warm-up round)");
ABSL_FLAG(int, backend_latency_us, 0, "time every GET that reaches the store takes more");
ABSL_FLAG(int, cache, 0, "the demo: also run each map behind an rcu::LookupCache of N entries");
ABSL_FLAG(double, key_skew, 0, "GET keys drawn Zipf(s); 0: uniformly");
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
  // The share of GETs answered from a cache, or -1 for a store without one.
  virtual double HitRatio() { return -1; }
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

// A store whose GETs take --backend_latency_us more: a backend behind a network.
class SlowStore : public Store {
 public:
  SlowStore(std::unique_ptr<Store> backend, std::chrono::microseconds latency)
      : backend_(std::move(backend)), latency_(latency) {}
  std::optional<uint64_t> Get(uint64_t key) override {
    std::this_thread::sleep_for(latency_);
    return backend_->Get(key);
  }
  void Set(uint64_t key, uint64_t value) override { backend_->Set(key, value); }
  bool Del(uint64_t key) override { return backend_->Del(key); }
  std::string Stats() override { return backend_->Stats(); }

 private:
  const std::unique_ptr<Store> backend_;
  const std::chrono::microseconds latency_;
};

// A store behind an rcu::LookupCache: GETs are answered from the cache, or loaded once per key
// from the store (missing keys too: the value is an optional); writes go to the store, then
// erase the key from the cache, which also keeps a load in flight for it from being cached.
class CachedStore : public Store {
 public:
  CachedStore(std::unique_ptr<Store> backend, size_t entries)
      : backend_(std::move(backend)), cache_({.capacity = entries}) {}
  std::optional<uint64_t> Get(uint64_t key) override {
    return cache_.GetOrLoad(key, [this](uint64_t k) { return backend_->Get(k); });
  }
  void Set(uint64_t key, uint64_t value) override {
    backend_->Set(key, value);
    cache_.Erase(key);
  }
  bool Del(uint64_t key) override {
    const bool erased = backend_->Del(key);
    cache_.Erase(key);
    return erased;
  }
  std::string Stats() override {
    const rcu::LookupCacheStats s = cache_.Stats();
    return backend_->Stats() + " cache_hits=" + std::to_string(s.hits) +
           " cache_misses=" + std::to_string(s.misses);
  }
  double HitRatio() override {
    const rcu::LookupCacheStats s = cache_.Stats();
    return s.hits + s.misses == 0 ? 0 : double(s.hits) / double(s.hits + s.misses);
  }

 private:
  const std::unique_ptr<Store> backend_;  // destroyed after the cache (declared first)
  rcu::LookupCache<uint64_t, std::optional<uint64_t>> cache_;
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

// The key of the next GET: uniform over [0, keys), or Zipf(--key_skew) (key 0 the hottest) from
// ranks drawn once by inverse-CDF sampling.
uint64_t NextKey(std::mt19937_64& rng, uint64_t keys) {
  const double skew = absl::GetFlag(FLAGS_key_skew);
  if (skew <= 0) return rng() % keys;
  static const std::vector<uint32_t>* const ranks = [&] {
    std::vector<double> cdf(keys);
    double sum = 0;
    for (uint64_t r = 0; r < keys; ++r) cdf[r] = (sum += std::pow(double(r + 1), -skew));
    std::mt19937_64 draw(5);
    std::uniform_real_distribution<double> uniform(0, sum);
    auto* out = new std::vector<uint32_t>(1 << 20);
    for (uint32_t& r : *out) {
      r = static_cast<uint32_t>(std::lower_bound(cdf.begin(), cdf.end(), uniform(draw)) -
                                cdf.begin());
    }
    return out;
  }();
  return (*ranks)[rng() % ranks->size()];
}

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
      batch += "GET " + std::to_string(NextKey(rng, keys)) + "\n";
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

// The map `kind` ("rcu" or "shared_mutex"), slowed by --backend_latency_us, and behind a cache
// of `cache` entries unless 0.
std::unique_ptr<Store> MakeStore(const std::string& kind, size_t cache = 0) {
  std::unique_ptr<Store> store;
  if (kind == "rcu") {
    store = std::make_unique<RcuStore>();
  } else if (kind == "shared_mutex") {
    store = std::make_unique<SharedMutexStore>();
  } else {
    std::fprintf(stderr, "lookup_service: unknown --map=%s\n", kind.c_str());
    std::exit(2);
  }
  if (const int us = absl::GetFlag(FLAGS_backend_latency_us); us > 0) {
    store = std::make_unique<SlowStore>(std::move(store), std::chrono::microseconds(us));
  }
  if (cache > 0) store = std::make_unique<CachedStore>(std::move(store), cache);
  return store;
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

// One case of the demo, and what its runs measured.
struct Case {
  std::string map;
  size_t cache = 0;
  int update_rate = 0;
  std::vector<double> answered_per_s, p50, p99, p999, applied_per_s, hit_ratio;
};

// One run of `c`; false if a request went unanswered.
bool Run(Case& c) {
  auto store = MakeStore(c.map, c.cache);
  const uint64_t keys = static_cast<uint64_t>(absl::GetFlag(FLAGS_keys));
  Load(*store, keys);
  LoadResult r;
  uint64_t updates = 0;
  {
    Server server(*store);
    Updater updater(*store, keys, c.update_rate);
    r = GenerateLoad(server.port(), keys);
    updates = updater.applied();
  }
  const double answered = r.latencies_us.size();
  c.answered_per_s.push_back(answered / r.seconds);
  c.p50.push_back(Percentile(r.latencies_us, 0.5));
  c.p99.push_back(Percentile(r.latencies_us, 0.99));
  c.p999.push_back(Percentile(r.latencies_us, 0.999));
  c.applied_per_s.push_back(updates / r.seconds);
  c.hit_ratio.push_back(store->HitRatio());
  return answered > 0 && answered == r.sent;
}

// "median (lowest-highest)" of `v`, or the median alone for one run.
std::string Spread(std::vector<double> v, const char* format) {
  std::sort(v.begin(), v.end());
  char median[32], low[32], high[32];
  std::snprintf(median, sizeof(median), format, v[v.size() / 2]);
  if (v.size() == 1) return median;
  std::snprintf(low, sizeof(low), format, v.front());
  std::snprintf(high, sizeof(high), format, v.back());
  return std::string(median) + " (" + low + "-" + high + ")";
}

std::string Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return std::to_string(static_cast<int64_t>(v[v.size() / 2]));
}

int Demo() {
  std::vector<Case> cases;
  const std::string map = absl::GetFlag(FLAGS_map);
  std::vector<size_t> caches = {0};  // without a cache, and with one if asked
  if (const int cache = absl::GetFlag(FLAGS_cache); cache > 0) {
    caches.push_back(static_cast<size_t>(cache));
  }
  for (const std::string& rate_text : absl::GetFlag(FLAGS_update_rates)) {
    for (const char* kind : {"rcu", "shared_mutex"}) {
      if (map != kind && map != "both") continue;
      for (const size_t cache : caches) {
        Case c;
        c.map = kind;
        c.cache = cache;
        c.update_rate = std::atoi(rate_text.c_str());
        cases.push_back(c);
      }
    }
  }
  bool ok = true;
  for (Case c : cases) ok &= Run(c);  // the warm-up round, on copies: discarded
  const int repeats = std::max(1, absl::GetFlag(FLAGS_repeats));
  for (int round = 0; round < repeats; ++round) {
    for (size_t i = 0; i < cases.size(); ++i) ok &= Run(cases[(i + round) % cases.size()]);
  }
  std::printf("%-20s %9s %11s %-24s %-24s %-24s %9s %6s\n", "map", "updates/s", "answered/s",
              "p50 us", "p99 us", "p99.9 us", "applied/s", "hits");
  for (const Case& c : cases) {
    const std::string name = c.map + (c.cache > 0 ? "+cache" : "");
    std::vector<double> hits = c.hit_ratio;
    std::sort(hits.begin(), hits.end());
    char hit_text[16] = "-";
    if (const double median = hits[hits.size() / 2]; median >= 0) {
      std::snprintf(hit_text, sizeof(hit_text), "%.1f%%", 100 * median);
    }
    std::printf("%-20s %9d %11s %-24s %-24s %-24s %9s %6s\n", name.c_str(), c.update_rate,
                Median(c.answered_per_s).c_str(), Spread(c.p50, "%.1f").c_str(),
                Spread(c.p99, "%.1f").c_str(), Spread(c.p999, "%.1f").c_str(),
                Median(c.applied_per_s).c_str(), hit_text);
  }
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_serve)) return Serve();
  std::printf(
      "lookup_service: %d keys, %d connections on loopback, %d requests/s (open loop), %.1f s "
      "per run, %d runs of each case after a warm-up, medians (range)\n\n",
      absl::GetFlag(FLAGS_keys), absl::GetFlag(FLAGS_connections), absl::GetFlag(FLAGS_rate),
      absl::GetFlag(FLAGS_seconds), std::max(1, absl::GetFlag(FLAGS_repeats)));
  const int rc = Demo();
  std::printf("%s\n", rc == 0 ? "OK" : "FAILURE");
  return rc;
}
