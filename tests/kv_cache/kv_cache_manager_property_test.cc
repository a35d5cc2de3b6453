// Randomized property test of KVCacheManager against a reference model.
//
// A scheduler-like driver admits sequences whose prompts share a few common
// prefixes (so prefix hits, duplicates and evictions happen), grows them by
// random prefill chunks and single decode tokens, preempts them when memory
// runs out and finishes them. After every operation the manager must agree
// with a deliberately naive reference model (std::list LRU queue, a map keyed
// by the full token prefix of each cached block instead of by hash) on block
// tables, prefix hits, allocation success, free-queue order, cached blocks and
// reference counts, and CheckInvariants() must be empty. Independently of
// both, a simulated KV store must hold, for every live sequence and every
// prefix-hit block, exactly what the sequence/prompt claims: each slot records
// the token id written there, its position and a fingerprint of all tokens up
// to it (real K/V depend on the whole prefix). This catches wrong sharing
// (including equal blocks after different prefixes) and overwritten blocks.

#include <algorithm>
#include <cstdint>
#include <list>
#include <map>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/kv_cache/kv_cache_manager.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace llmserve {
namespace {

using Tokens = std::vector<int32_t>;

// What the simulated model writes at a KV slot.
struct SlotValue {
  int32_t token = -1;
  int32_t position = -1;
  uint64_t prefix = 0;  // fingerprint of tokens [0, position]
  friend bool operator==(const SlotValue&, const SlotValue&) = default;
  friend std::ostream& operator<<(std::ostream& os, const SlotValue& v) {
    return os << "{token " << v.token << ", position " << v.position << ", prefix " << v.prefix
              << "}";
  }
};

// The SlotValue of every position of `tokens` (FNV-1a style chain, finalized
// with splitmix64; independent of the manager's block hash).
std::vector<SlotValue> ExpectedSlots(const Tokens& tokens) {
  std::vector<SlotValue> out(tokens.size());
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t p = 0; p < tokens.size(); ++p) {
    h = (h ^ static_cast<uint32_t>(tokens[p])) * 0x100000001b3ULL;
    uint64_t x = h + p;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    out[p] = {tokens[p], static_cast<int32_t>(p), x ^ (x >> 31)};
  }
  return out;
}

// The reference model: same policy as documented in kv_cache_manager.h, with
// the simplest possible data structures.
class ReferenceModel {
 public:
  ReferenceModel(int num_blocks, int block_size, bool caching)
      : bs_(block_size), caching_(caching), ref_(num_blocks, 0), key_(num_blocks) {
    for (int32_t b = 0; b < num_blocks; ++b) free_.push_back(b);
  }

  std::vector<int32_t> Lookup(const Tokens& tokens) const {
    std::vector<int32_t> ids;
    if (!caching_ || tokens.empty()) return ids;
    for (size_t i = 0; i < (tokens.size() - 1) / bs_; ++i) {
      const auto it = cache_.find(Tokens(tokens.begin(), tokens.begin() + (i + 1) * bs_));
      if (it == cache_.end()) break;
      ids.push_back(it->second);
    }
    return ids;
  }

  bool Allocate(int64_t seq, const Tokens& tokens, int num_computed, int num_new,
                const std::vector<int32_t>& computed) {
    std::vector<int32_t>& table = tables_[seq];
    int& registered = registered_[seq];  // leading full blocks already considered
    const int needed = (num_computed + num_new + bs_ - 1) / bs_;
    const int held = table.empty() ? static_cast<int>(computed.size()) : table.size();
    int from_free = std::max(0, needed - held);
    if (table.empty()) {
      for (int32_t b : computed) from_free += ref_[b] == 0;
    }
    if (from_free > static_cast<int>(free_.size())) {
      if (table.empty()) Erase(seq);
      return false;
    }
    if (table.empty()) {
      for (int32_t b : computed) {
        if (ref_[b]++ == 0) free_.remove(b);
        table.push_back(b);
      }
      registered = static_cast<int>(computed.size());
    }
    while (static_cast<int>(table.size()) < needed) {
      const int32_t b = free_.front();
      free_.pop_front();
      if (!key_[b].empty()) cache_.erase(key_[b]);
      key_[b].clear();
      ref_[b] = 1;
      table.push_back(b);
    }
    if (caching_) {
      const int full = std::min<int>(num_computed + num_new, tokens.size()) / bs_;
      // A block whose prefix is already cached by another block is a
      // duplicate: it is never registered, even after that block is evicted.
      for (int i = registered; i < full; ++i) {
        Tokens key(tokens.begin(), tokens.begin() + (i + 1) * bs_);
        if (cache_.count(key)) continue;
        cache_[key] = table[i];
        key_[table[i]] = std::move(key);
      }
      registered = std::max(registered, full);
    }
    if (table.empty()) Erase(seq);
    return true;
  }

  void Free(int64_t seq) {
    const auto it = tables_.find(seq);
    if (it == tables_.end()) return;
    for (auto b = it->second.rbegin(); b != it->second.rend(); ++b) {
      if (--ref_[*b] == 0) free_.push_back(*b);
    }
    Erase(seq);
  }

  std::vector<int32_t> Table(int64_t seq) const {
    const auto it = tables_.find(seq);
    return it == tables_.end() ? std::vector<int32_t>{} : it->second;
  }
  std::vector<int32_t> FreeQueue() const { return {free_.begin(), free_.end()}; }
  int ref(int32_t b) const { return ref_[b]; }
  bool cached(int32_t b) const { return !key_[b].empty(); }
  int num_cached() const { return static_cast<int>(cache_.size()); }

 private:
  void Erase(int64_t seq) {
    tables_.erase(seq);
    registered_.erase(seq);
  }

  const int bs_;
  const bool caching_;
  std::vector<int> ref_;
  std::list<int32_t> free_;
  std::map<Tokens, int32_t> cache_;  // full token prefix ending with a block → block
  std::vector<Tokens> key_;          // block → its cache key, empty if not cached
  std::map<int64_t, std::vector<int32_t>> tables_;
  std::map<int64_t, int> registered_;
};

struct Config {
  int num_blocks;
  int block_size;
  bool caching;
  uint32_t seed;
  int num_ops;
};

void PrintTo(const Config& c, std::ostream* os) {
  *os << "{blocks " << c.num_blocks << ", block size " << c.block_size << ", caching "
      << c.caching << ", seed " << c.seed << ", ops " << c.num_ops << "}";
}

struct Stats {
  int admitted = 0, admit_failures = 0, grow_failures = 0, preemptions = 0, finished = 0;
  int64_t hit_tokens = 0;
  int reused_free_cached = 0;  // prefix hits on blocks with reference count 0
  int evictions = 0;           // cached blocks reallocated
};

class Driver {
 public:
  explicit Driver(const Config& c)
      : c_(c),
        m_(c.num_blocks, c.block_size, c.caching),
        model_(c.num_blocks, c.block_size, c.caching),
        rng_(c.seed),
        kv_(static_cast<size_t>(c.num_blocks) * c.block_size) {
    const int bs = c.block_size;
    for (int len : {bs - 1, 2 * bs, 3 * bs + 1, 5 * bs}) prefixes_.push_back(RandomTokens(len));
  }

  // One random operation followed by all checks.
  void Step() {
    const int r = Uniform(0, 99);
    if (r < 30 || live_.empty()) {
      Admit();
    } else if (r < 88) {
      Grow(Pick());
    } else {
      Finish(Pick());
    }
    if (::testing::Test::HasFatalFailure()) return;
    CheckAgainstModel();
  }

  void FreeEverything() {
    while (!live_.empty()) Finish(live_.begin()->first);
    CheckAgainstModel();
    EXPECT_EQ(m_.num_free_blocks(), c_.num_blocks);
    EXPECT_DOUBLE_EQ(m_.Usage(), 0.0);
  }

  const Stats& stats() const { return stats_; }

 private:
  struct Seq {
    Tokens tokens;  // prompt + generated so far
    int num_computed = 0;
    size_t max_len = 0;
  };

  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  Tokens RandomTokens(int n) {
    Tokens t(n);
    for (auto& x : t) x = Uniform(0, 3);  // tiny vocabulary: equal blocks recur
    return t;
  }
  int64_t Pick() {
    auto it = live_.begin();
    std::advance(it, Uniform(0, static_cast<int>(live_.size()) - 1));
    return it->first;
  }

  // Every hit block must hold, in the simulated KV store, the prompt's tokens.
  void CheckBlockHolds(int32_t block, const std::vector<SlotValue>& expected, int logical) {
    for (int j = 0; j < c_.block_size; ++j) {
      ASSERT_EQ(kv_[static_cast<size_t>(block) * c_.block_size + j],
                expected[logical * c_.block_size + j])
          << "block " << block << " slot " << j << " shared for the wrong tokens";
    }
  }

  // "Runs the model": writes tokens [from, to) of `seq` into its slots.
  void Compute(int64_t id, Seq& seq, int to) {
    const std::vector<SlotValue> values = ExpectedSlots(seq.tokens);
    for (int pos = seq.num_computed; pos < to; ++pos) {
      const int32_t block = m_.BlockTable(id)[pos / c_.block_size];
      ASSERT_EQ(model_.ref(block), 1) << "writing into shared block " << block;
      kv_[m_.Slot(id, pos)] = values[pos];
    }
    seq.num_computed = to;
    if (seq.num_computed == static_cast<int>(seq.tokens.size())) {
      seq.tokens.push_back(Uniform(0, 3));  // the sampled token
    }
  }

  void Admit() {
    if (live_.size() >= 12) return;
    Tokens prompt;
    if (!waiting_.empty() && Uniform(0, 1) == 0) {  // resume a preempted sequence
      prompt = waiting_.back();
      waiting_.pop_back();
    } else {
      const int p = Uniform(0, static_cast<int>(prefixes_.size()));  // == size: none
      if (p < static_cast<int>(prefixes_.size())) prompt = prefixes_[p];
      const Tokens suffix = RandomTokens(Uniform(1, 3 * c_.block_size));
      prompt.insert(prompt.end(), suffix.begin(), suffix.end());
    }
    const ComputedBlocks computed = m_.GetComputedBlocks(prompt);
    if (c_.caching) {
      expected_queries_ += static_cast<int64_t>(prompt.size());
      expected_hits_ += computed.num_tokens;
    }
    ASSERT_THAT(computed.block_ids, ::testing::ElementsAreArray(model_.Lookup(prompt)));
    ASSERT_EQ(computed.num_tokens,
              static_cast<int>(computed.block_ids.size()) * c_.block_size);
    ASSERT_LT(computed.num_tokens, static_cast<int>(prompt.size()));
    int free_hits = 0;
    const std::vector<SlotValue> expected = ExpectedSlots(prompt);
    for (size_t i = 0; i < computed.block_ids.size(); ++i) {
      CheckBlockHolds(computed.block_ids[i], expected, static_cast<int>(i));
      free_hits += model_.ref(computed.block_ids[i]) == 0;
    }

    const int remaining = static_cast<int>(prompt.size()) - computed.num_tokens;
    const int chunk = Uniform(0, 1) ? remaining : Uniform(1, remaining);
    const int64_t id = next_id_++;
    const auto before = Snapshot();
    const std::vector<char> was_cached = CachedFlags();
    const bool ok = m_.AllocateSlots(id, prompt, computed.num_tokens, chunk, computed);
    ASSERT_EQ(ok, model_.Allocate(id, prompt, computed.num_tokens, chunk, computed.block_ids));
    if (!ok) {
      ++stats_.admit_failures;
      ASSERT_TRUE(m_.BlockTable(id).empty());
      ASSERT_EQ(Snapshot(), before) << "failed allocation changed state";
      if (waiting_.size() < 8) waiting_.push_back(prompt);
      return;
    }
    CountEvictions(id, computed.block_ids.size(), was_cached);
    ++stats_.admitted;
    stats_.hit_tokens += computed.num_tokens;
    stats_.reused_free_cached += free_hits;
    Seq& seq = live_[id];
    seq.tokens = prompt;
    seq.num_computed = computed.num_tokens;
    seq.max_len = prompt.size() + Uniform(0, 3 * c_.block_size);
    Compute(id, seq, computed.num_tokens + chunk);
  }

  void Grow(int64_t id) {
    Seq& seq = live_[id];
    const int remaining = static_cast<int>(seq.tokens.size()) - seq.num_computed;
    const int chunk = Uniform(1, remaining);
    const std::vector<int32_t> table_before(m_.BlockTable(id).begin(), m_.BlockTable(id).end());
    const auto before = Snapshot();
    const std::vector<char> was_cached = CachedFlags();
    const bool ok = m_.AllocateSlots(id, seq.tokens, seq.num_computed, chunk);
    ASSERT_EQ(ok, model_.Allocate(id, seq.tokens, seq.num_computed, chunk, {}));
    if (!ok) {
      ++stats_.grow_failures;
      ASSERT_EQ(Snapshot(), before) << "failed allocation changed state";
      ASSERT_THAT(m_.BlockTable(id), ::testing::ElementsAreArray(table_before));
      if (Uniform(0, 1)) {  // preempt: drop its blocks, recompute later
        ++stats_.preemptions;
        if (waiting_.size() < 8) waiting_.push_back(seq.tokens);
        Release(id);
      }
      return;
    }
    CountEvictions(id, table_before.size(), was_cached);
    Compute(id, seq, seq.num_computed + chunk);
    if (seq.num_computed + 1 == static_cast<int>(seq.tokens.size()) &&
        seq.tokens.size() > seq.max_len) {
      Finish(id);
    }
  }

  void Finish(int64_t id) {
    ++stats_.finished;
    Release(id);
  }

  void Release(int64_t id) {
    m_.Free(id);
    model_.Free(id);
    live_.erase(id);
  }

  std::vector<char> CachedFlags() const {
    std::vector<char> flags(c_.num_blocks);
    for (int32_t b = 0; b < c_.num_blocks; ++b) flags[b] = m_.block_pool().is_cached(b);
    return flags;
  }

  // Newly allocated blocks (table entries from `first_new` on) that were cached.
  void CountEvictions(int64_t id, size_t first_new, const std::vector<char>& was_cached) {
    const absl::Span<const int32_t> table = m_.BlockTable(id);
    for (size_t i = first_new; i < table.size(); ++i) stats_.evictions += was_cached[table[i]];
  }

  // Everything a failed AllocateSlots must leave untouched.
  std::string Snapshot() const {
    std::string s = absl::StrCat(m_.num_free_blocks(), "|", m_.prefix_cache_queries(), "|",
                                 m_.prefix_cache_hits(), "|q");
    for (int32_t b : m_.block_pool().FreeQueue()) absl::StrAppend(&s, b, ",");
    absl::StrAppend(&s, "|c");
    for (int32_t b = 0; b < c_.num_blocks; ++b) {
      absl::StrAppend(&s, m_.block_pool().is_cached(b), m_.block_pool().ref_count(b), ",");
    }
    return s;
  }

  void CheckAgainstModel() {
    ASSERT_EQ(m_.CheckInvariants(), "");
    ASSERT_THAT(m_.block_pool().FreeQueue(), ::testing::ElementsAreArray(model_.FreeQueue()));
    ASSERT_EQ(m_.block_pool().num_cached_blocks(), model_.num_cached());
    ASSERT_EQ(m_.prefix_cache_queries(), expected_queries_);
    ASSERT_EQ(m_.prefix_cache_hits(), expected_hits_);
    std::vector<int> holders(c_.num_blocks, 0);
    std::set<int32_t> used;
    for (const auto& [id, seq] : live_) {
      const absl::Span<const int32_t> table = m_.BlockTable(id);
      ASSERT_THAT(table, ::testing::ElementsAreArray(model_.Table(id))) << "seq " << id;
      ASSERT_EQ(static_cast<int>(table.size()),
                (seq.num_computed + c_.block_size - 1) / c_.block_size);
      for (int32_t b : table) {
        ++holders[b];
        used.insert(b);
      }
      // Every computed token is still in the KV store where the table says.
      const std::vector<SlotValue> expected = ExpectedSlots(seq.tokens);
      for (int pos = 0; pos < seq.num_computed; ++pos) {
        ASSERT_EQ(kv_[m_.Slot(id, pos)], expected[pos]) << "seq " << id << " pos " << pos;
      }
    }
    for (int32_t b = 0; b < c_.num_blocks; ++b) {
      ASSERT_EQ(m_.block_pool().ref_count(b), holders[b]) << "block " << b;
      ASSERT_EQ(model_.ref(b), holders[b]) << "block " << b;
      ASSERT_EQ(m_.block_pool().is_cached(b), model_.cached(b)) << "block " << b;
    }
    ASSERT_EQ(m_.num_free_blocks() + static_cast<int>(used.size()), c_.num_blocks);
    ASSERT_DOUBLE_EQ(m_.Usage(), static_cast<double>(used.size()) / c_.num_blocks);
  }

  const Config c_;
  KVCacheManager m_;
  ReferenceModel model_;
  std::mt19937 rng_;
  std::vector<SlotValue> kv_;  // simulated KV store, indexed by slot
  std::vector<Tokens> prefixes_;
  std::vector<Tokens> waiting_;  // preempted / rejected prompts to resubmit
  std::map<int64_t, Seq> live_;
  int64_t next_id_ = 1;
  int64_t expected_queries_ = 0;
  int64_t expected_hits_ = 0;
  Stats stats_;
};

class KVCacheManagerPropertyTest : public ::testing::TestWithParam<Config> {};

TEST_P(KVCacheManagerPropertyTest, AgreesWithReferenceModel) {
  const Config& c = GetParam();
  Driver driver(c);
  for (int op = 0; op < c.num_ops; ++op) {
    SCOPED_TRACE(absl::StrCat("seed ", c.seed, " op ", op));
    driver.Step();
    ASSERT_FALSE(HasFatalFailure());
  }
  driver.FreeEverything();
  const Stats& s = driver.stats();
  RecordProperty("stats", absl::StrCat("admitted ", s.admitted, " admit_failures ",
                                       s.admit_failures, " grow_failures ", s.grow_failures,
                                       " preemptions ", s.preemptions, " finished ", s.finished,
                                       " hit_tokens ", s.hit_tokens, " reused_free_cached ",
                                       s.reused_free_cached, " evictions ", s.evictions));
  // The run must have exercised the interesting paths.
  EXPECT_GT(s.admitted, c.num_ops / 20);
  EXPECT_GT(s.admit_failures + s.grow_failures, 0);
  EXPECT_GT(s.preemptions, 0);
  EXPECT_GT(s.finished, c.num_ops / 50);
  if (c.caching) {
    EXPECT_GT(s.hit_tokens, 0);
    EXPECT_GT(s.reused_free_cached, 0);
    EXPECT_GT(s.evictions, 0);
  } else {
    EXPECT_EQ(s.hit_tokens, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Configs, KVCacheManagerPropertyTest,
    ::testing::Values(Config{40, 4, true, 1, 3000}, Config{40, 4, true, 2, 3000},
                      Config{24, 4, true, 3, 3000}, Config{24, 1, true, 4, 2000},
                      Config{16, 16, true, 5, 2000}, Config{40, 4, false, 6, 2000}),
    [](const ::testing::TestParamInfo<Config>& info) {
      return absl::StrCat("blocks", info.param.num_blocks, "_bs", info.param.block_size,
                          info.param.caching ? "_cache" : "_nocache", "_seed",
                          info.param.seed);
    });

}  // namespace
}  // namespace llmserve
