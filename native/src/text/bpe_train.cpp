// BPE merge training: the incremental algorithm. Pair counts over unique chunks weighted by
// their frequency, a max-heap of (count, pair) with lazy invalidation, and per pair the list of
// chunks it occurs in, so a merge rewrites only the chunks that contain it. Must not know about
// strings or patterns: it sees byte chunks and counts.
#include <algorithm>
#include <queue>
#include <unordered_map>

#include "core/error.h"
#include "text/bpe.h"

namespace ns::text {
namespace {

using PairKey = uint64_t;  // (left << 32) | right: numeric order = (left, right) order

inline PairKey pair_key(TokenId left, TokenId right) {
  return (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
}
inline TokenId pair_left(PairKey k) { return TokenId(k >> 32); }
inline TokenId pair_right(PairKey k) { return TokenId(k & 0xffffffffu); }

struct Candidate {
  int64_t count;
  PairKey pair;
};

// priority_queue puts the "largest" on top: higher count first, then the smaller pair.
struct CandidateOrder {
  bool operator()(const Candidate& x, const Candidate& y) const {
    return x.count < y.count || (x.count == y.count && x.pair > y.pair);
  }
};

struct Word {
  std::vector<TokenId> ids;
  int64_t count;
};

class Trainer {
 public:
  explicit Trainer(const CountedChunks& chunks) {
    const size_t n = chunks.counts.size();
    NS_CHECK(chunks.offsets.size() == n + 1, "bpe_train: ", chunks.offsets.size(), " offsets for ", n, " chunks");
    words_.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      const size_t begin = chunks.offsets[i], end = chunks.offsets[i + 1];
      NS_CHECK(begin <= end && end <= chunks.bytes.size(), "bpe_train: chunk ", i, " offsets out of range");
      NS_CHECK(chunks.counts[i] > 0, "bpe_train: chunk ", i, " has count ", chunks.counts[i], ", expected > 0");
      if (end - begin < 2) continue;  // a single byte has no pair to merge
      Word w;
      w.count = chunks.counts[i];
      w.ids.reserve(end - begin);
      for (size_t k = begin; k < end; ++k) w.ids.push_back(static_cast<uint8_t>(chunks.bytes[k]));
      words_.push_back(std::move(w));
    }
    for (size_t w = 0; w < words_.size(); ++w) {
      const auto& ids = words_[w].ids;
      for (size_t i = 0; i + 1 < ids.size(); ++i) add_occurrence(pair_key(ids[i], ids[i + 1]), words_[w].count, w);
    }
    std::vector<Candidate> initial;
    initial.reserve(pair_counts_.size());
    for (const auto& [pair, count] : pair_counts_) initial.push_back({count, pair});
    // The heap's pop order is fixed by the strict (count, pair) order, so the hash map's
    // iteration order here cannot leak into the result.
    heap_ = std::priority_queue<Candidate, std::vector<Candidate>, CandidateOrder>(CandidateOrder{},
                                                                                   std::move(initial));
  }

  std::vector<Merge> run(size_t max_merges) {
    std::vector<Merge> merges;
    merges.reserve(max_merges);
    while (merges.size() < max_merges) {
      PairKey best;
      if (!pop_best(&best)) break;
      const TokenId new_id = kByteVocab + static_cast<TokenId>(merges.size());
      apply_merge(best, new_id);
      merges.push_back({pair_left(best), pair_right(best)});
    }
    return merges;
  }

 private:
  void add_occurrence(PairKey pair, int64_t count, size_t word) {
    pair_counts_[pair] += count;
    auto& list = pair_words_[pair];
    if (list.empty() || list.back() != word) list.push_back(word);
  }

  int64_t current_count(PairKey pair) const {
    auto it = pair_counts_.find(pair);
    return it == pair_counts_.end() ? 0 : it->second;
  }

  // Lazy invalidation: counts only fall after an entry is pushed (a merge adds pairs only with
  // the brand-new id, pushed once complete), so a stale entry is re-pushed with its current
  // count and the first entry that is up to date is the true maximum.
  bool pop_best(PairKey* best) {
    while (!heap_.empty()) {
      const Candidate top = heap_.top();
      heap_.pop();
      const int64_t now = current_count(top.pair);
      if (now == top.count) {
        *best = top.pair;
        return true;
      }
      if (now > 0) heap_.push({now, top.pair});
    }
    return false;
  }

  void apply_merge(PairKey pair, TokenId new_id) {
    const TokenId left = pair_left(pair), right = pair_right(pair);
    std::vector<size_t> words;
    {
      auto it = pair_words_.find(pair);
      NS_CHECK(it != pair_words_.end(), "bpe_train: internal error, no chunk list for the best pair");
      words = std::move(it->second);
      pair_words_.erase(it);
    }
    new_pairs_.clear();
    for (size_t w : words) {
      Word& word = words_[w];
      const auto& ids = word.ids;
      // The list may name chunks an earlier merge rewrote; those no longer hold the pair.
      merged_.clear();
      touched_.assign(ids.size(), 0);
      bool found = false;
      for (size_t i = 0; i < ids.size();) {
        if (i + 1 < ids.size() && ids[i] == left && ids[i + 1] == right) {
          touched_[i] = touched_[i + 1] = 1;
          merged_.push_back(new_id);
          i += 2;
          found = true;
        } else {
          merged_.push_back(ids[i]);
          i += 1;
        }
      }
      if (!found) continue;
      // Only pairs touching a merged position change: the old ones around it go away, the new
      // ones with new_id appear; everything else in the chunk is the same on both sides.
      for (size_t i = 0; i + 1 < ids.size(); ++i) {
        if (!touched_[i] && !touched_[i + 1]) continue;
        auto it = pair_counts_.find(pair_key(ids[i], ids[i + 1]));
        NS_CHECK(it != pair_counts_.end() && it->second >= word.count, "bpe_train: internal error, pair count underflow");
        it->second -= word.count;
        if (it->second == 0 && it->first != pair) pair_counts_.erase(it);
      }
      for (size_t j = 0; j + 1 < merged_.size(); ++j) {
        if (merged_[j] != new_id && merged_[j + 1] != new_id) continue;
        const PairKey p = pair_key(merged_[j], merged_[j + 1]);
        if (pair_counts_.find(p) == pair_counts_.end()) new_pairs_.push_back(p);
        add_occurrence(p, word.count, w);
      }
      word.ids.swap(merged_);
    }
    // Every occurrence of the merged pair was in a listed chunk, so its count is now exactly 0.
    auto it = pair_counts_.find(pair);
    NS_CHECK(it != pair_counts_.end() && it->second == 0, "bpe_train: internal error, merged pair count not zero");
    pair_counts_.erase(it);
    for (PairKey p : new_pairs_) heap_.push({pair_counts_.at(p), p});
  }

  std::vector<Word> words_;
  std::unordered_map<PairKey, int64_t> pair_counts_;
  std::unordered_map<PairKey, std::vector<size_t>> pair_words_;
  std::priority_queue<Candidate, std::vector<Candidate>, CandidateOrder> heap_;
  // Scratch reused across merges.
  std::vector<TokenId> merged_;
  std::vector<uint8_t> touched_;
  std::vector<PairKey> new_pairs_;
};

}  // namespace

std::vector<Merge> bpe_train(const CountedChunks& chunks, size_t max_merges) {
  Trainer trainer(chunks);
  return trainer.run(max_merges);
}

}  // namespace ns::text
