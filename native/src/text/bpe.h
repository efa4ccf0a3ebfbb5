// Byte-level BPE in plain C++ (no Node-API): merge training over pre-split, counted chunks and
// per-chunk encoding by merge rank, with a cache of chunk -> ids. It knows nothing of the split
// pattern, of JS strings or of special tokens: tokenizer.ts pre-splits, the binding converts.
// Token ids: 0..255 are the byte values; merge i creates id 256 + i.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ns::text {

using TokenId = int32_t;
constexpr TokenId kByteVocab = 256;

// One learned merge: the adjacent pair (left, right) becomes one new token.
struct Merge {
  TokenId left;
  TokenId right;
};

// Unique chunks of the training text with their frequencies:
// chunk i is bytes[offsets[i] .. offsets[i + 1]) and occurred counts[i] times.
struct CountedChunks {
  std::string bytes;
  std::vector<size_t> offsets{0};
  std::vector<int64_t> counts;
};

// Learns up to max_merges merges: each step merges the most frequent adjacent pair (pairs never
// cross chunk boundaries); ties go to the smallest (left, right). Stops early, returning fewer
// merges, when no adjacent pair is left. Deterministic: the result does not depend on chunk order.
std::vector<Merge> bpe_train(const CountedChunks& chunks, size_t max_merges);

// Chunk bytes -> ids, bounded in memory: cleared when full, so it never grows past its limits.
class ChunkCache {
 public:
  // Returns the cached ids of the chunk, or nullptr (and *len untouched) on a miss.
  const TokenId* find(const uint8_t* bytes, size_t n, uint64_t hash, size_t* len) const;
  void insert(const uint8_t* bytes, size_t n, uint64_t hash, const TokenId* ids, size_t len);
  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t hash = 0;  // 0 marks an empty slot (stored hashes have their low bit set)
    uint32_t key_offset = 0, key_len = 0, ids_offset = 0, ids_len = 0;
  };
  void clear_and_resize(size_t capacity);
  std::vector<Slot> slots_;
  std::vector<uint8_t> keys_;
  std::vector<TokenId> ids_;
  size_t size_ = 0;
};

class BpeEncoder {
 public:
  // Validates the merges (each pair made of existing ids, no pair twice) and builds the tables.
  explicit BpeEncoder(std::vector<Merge> merges);

  // Appends the ids of one pre-split chunk to out. Every byte sequence encodes (byte fallback).
  void encode_chunk(const uint8_t* bytes, size_t n, std::vector<TokenId>& out);
  // Applies the earliest merge present, one pass over the chunk per merge found (quadratic in
  // the worst case, fastest for the short chunks that make up almost all text).
  void encode_chunk_by_passes(const uint8_t* bytes, size_t n, std::vector<TokenId>& out) const;
  // Linked list + min-heap of (rank, position): O(n log n), used for long chunks.
  void encode_chunk_by_heap(const uint8_t* bytes, size_t n, std::vector<TokenId>& out) const;

  // Tokens without specials: 256 + number of merges.
  size_t num_tokens() const { return token_bytes_.size(); }
  const std::string& token_bytes(TokenId id) const { return token_bytes_[static_cast<size_t>(id)]; }
  const std::vector<Merge>& merges() const { return merges_; }

 private:
  // The id the pair merges into, or -1 when the pair is not a merge. Lower id = earlier merge.
  TokenId merged_id(TokenId left, TokenId right) const;

  std::vector<Merge> merges_;
  std::vector<std::string> token_bytes_;
  // Open-addressing table pair -> merged id. Stored keys carry bit 63 (ids are < 2^31), so the
  // pair (0, 0) is never confused with an empty slot (key 0).
  std::vector<uint64_t> pair_keys_;
  std::vector<TokenId> pair_ids_;
  ChunkCache cache_;
};

// Hash of a byte string for the chunk cache (never 0).
uint64_t hash_bytes(const uint8_t* bytes, size_t n);

}  // namespace ns::text
