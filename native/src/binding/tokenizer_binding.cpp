// BPE tokenizer bindings: `bpeTrain` (merge training over counted chunks) and the
// `BpeTokenizer` class (encode pre-split texts or byte chunks, decode, token byte lengths).
// tokenizer.ts pre-splits, validates and explains; this file converts and checks the last line.
#include <napi.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "binding/args.h"
#include "binding/bindings.h"
#include "core/error.h"
#include "text/bpe.h"
#include "text/utf16.h"

namespace ns {
namespace {

using text::TokenId;

template <class T>
T* typed_data(const Args& a, size_t i, napi_typedarray_type type, const char* want, size_t* length) {
  const Napi::Value v = a.info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) a.type_error(i, want);
  auto arr = v.As<Napi::TypedArrayOf<T>>();
  *length = arr.ElementLength();
  return arr.Data();
}

std::vector<std::string> strings_of(const Args& a, size_t i) {
  if (!a.info[i].IsArray()) a.type_error(i, "an array of strings");
  auto arr = a.info[i].As<Napi::Array>();
  std::vector<std::string> out(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); ++k) {
    Napi::Value v = arr.Get(k);
    if (!v.IsString()) a.type_error(i, "an array of strings");
    out[k] = v.As<Napi::String>().Utf8Value();
  }
  return out;
}

Napi::Int32Array int32_array_of(Napi::Env env, const std::vector<TokenId>& ids) {
  auto arr = Napi::Int32Array::New(env, ids.size());
  if (!ids.empty()) std::memcpy(arr.Data(), ids.data(), ids.size() * sizeof(TokenId));
  return arr;
}

// bpeTrain(chunks, counts, maxMerges) -> Int32Array [left0, right0, left1, right1, ...]
// chunks: the unique pre-split chunks; counts[i]: how often chunks[i] occurred. Returns fewer
// than maxMerges merges when the data runs out of pairs; the caller decides if that is an error.
Napi::Value BpeTrain(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Args a{info, "bpeTrain"};
    if (!info[0].IsArray()) a.type_error(0, "an array of strings");
    auto strings = info[0].As<Napi::Array>();
    size_t num_counts = 0;
    const double* counts = typed_data<double>(a, 1, napi_float64_array, "a Float64Array", &num_counts);
    const int64_t max_merges = a.integer(2);
    NS_CHECK(strings.Length() == num_counts, "bpeTrain: ", strings.Length(), " chunks but ", num_counts, " counts");
    NS_CHECK(max_merges >= 0, "bpeTrain: maxMerges must be >= 0, got ", max_merges);
    text::CountedChunks chunks;
    chunks.offsets.reserve(num_counts + 1);
    chunks.counts.reserve(num_counts);
    for (uint32_t i = 0; i < num_counts; ++i) {
      Napi::Value v = strings.Get(i);
      if (!v.IsString()) a.type_error(0, "an array of strings");
      NS_CHECK(counts[i] >= 1 && counts[i] <= 9007199254740992.0 && counts[i] == double(int64_t(counts[i])),
               "bpeTrain: count ", counts[i], " of chunk ", i, " must be a positive integer");
      // V8's UTF-8 writes lone surrogates as U+FFFD, like TextEncoder and append_utf8.
      chunks.bytes += v.As<Napi::String>().Utf8Value();
      chunks.offsets.push_back(chunks.bytes.size());
      chunks.counts.push_back(static_cast<int64_t>(counts[i]));
    }
    const std::vector<text::Merge> merges = text::bpe_train(chunks, static_cast<size_t>(max_merges));
    std::vector<TokenId> flat;
    flat.reserve(merges.size() * 2);
    for (const auto& m : merges) {
      flat.push_back(m.left);
      flat.push_back(m.right);
    }
    return int32_array_of(info.Env(), flat);
  });
}

class JsBpeTokenizer : public Napi::ObjectWrap<JsBpeTokenizer> {
 public:
  // new BpeTokenizer(merges: Int32Array [left0, right0, ...], specials: string[])
  explicit JsBpeTokenizer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<JsBpeTokenizer>(info) {
    guarded(info, [&]() -> Napi::Value {
      Args a{info, "BpeTokenizer"};
      size_t n = 0;
      const int32_t* flat = typed_data<int32_t>(a, 0, napi_int32_array, "an Int32Array of merge pairs", &n);
      NS_CHECK(n % 2 == 0, "BpeTokenizer: merges must hold pairs, got ", n, " ids");
      std::vector<text::Merge> merges(n / 2);
      for (size_t i = 0; i < n / 2; ++i) merges[i] = {flat[2 * i], flat[2 * i + 1]};
      specials_ = strings_of(a, 1);
      encoder_ = std::make_unique<text::BpeEncoder>(std::move(merges));
      return info.Env().Undefined();
    });
  }

  // encodeTexts(texts, ends, chunkCounts, prependId) -> { ids: Int32Array, offsets: Int32Array }
  // Text t is split into chunkCounts[t] chunks whose UTF-16 ends are the next entries of ends;
  // the last end must be the text's length. prependId >= 0 starts every text with that id.
  // Document t's ids are ids[offsets[t] .. offsets[t + 1]).
  Napi::Value EncodeTexts(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      Args a{info, "encodeTexts"};
      if (!info[0].IsArray()) a.type_error(0, "an array of strings");
      auto texts = info[0].As<Napi::Array>();
      size_t num_ends = 0, num_texts = 0;
      const uint32_t* ends = typed_data<uint32_t>(a, 1, napi_uint32_array, "a Uint32Array", &num_ends);
      const uint32_t* chunk_counts = typed_data<uint32_t>(a, 2, napi_uint32_array, "a Uint32Array", &num_texts);
      const int64_t prepend = a.integer(3);
      NS_CHECK(num_texts == texts.Length(), "encodeTexts: ", texts.Length(), " texts but ", num_texts, " chunk counts");
      NS_CHECK(prepend < int64_t(vocab_size()), "encodeTexts: prepend id ", prepend, " out of range");
      std::vector<TokenId> ids;
      std::vector<TokenId> offsets{0};
      std::string chunk;
      size_t e = 0;
      for (uint32_t t = 0; t < num_texts; ++t) {
        Napi::Value v = texts.Get(t);
        if (!v.IsString()) a.type_error(0, "an array of strings");
        const std::u16string s = v.As<Napi::String>().Utf16Value();
        NS_CHECK(e + chunk_counts[t] <= num_ends, "encodeTexts: chunk counts exceed the ", num_ends, " chunk ends");
        if (prepend >= 0) ids.push_back(static_cast<TokenId>(prepend));
        size_t begin = 0;
        for (uint32_t c = 0; c < chunk_counts[t]; ++c, ++e) {
          NS_CHECK(ends[e] > begin && ends[e] <= s.size(), "encodeTexts: chunk end ", ends[e], " of text ", t,
                   " out of range (text length ", s.size(), ")");
          chunk.clear();
          text::append_utf8(s.data(), begin, ends[e], chunk);
          encoder_->encode_chunk(reinterpret_cast<const uint8_t*>(chunk.data()), chunk.size(), ids);
          begin = ends[e];
        }
        // Every unit must belong to a chunk, or text would be silently dropped.
        NS_CHECK(begin == s.size(), "encodeTexts: chunks of text ", t, " cover ", begin, " of ", s.size(), " units");
        NS_CHECK(ids.size() < size_t(INT32_MAX), "encodeTexts: batch too large, over 2^31 tokens");
        offsets.push_back(static_cast<TokenId>(ids.size()));
      }
      NS_CHECK(e == num_ends, "encodeTexts: ", num_ends - e, " chunk ends left over");
      auto result = Napi::Object::New(info.Env());
      result.Set("ids", int32_array_of(info.Env(), ids));
      result.Set("offsets", int32_array_of(info.Env(), offsets));
      return result;
    });
  }

  // encodeByteChunks(bytes, ends) -> Int32Array: chunk i is bytes[ends[i-1] .. ends[i]).
  Napi::Value EncodeByteChunks(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      Args a{info, "encodeByteChunks"};
      size_t n = 0, num_ends = 0;
      const uint8_t* bytes = typed_data<uint8_t>(a, 0, napi_uint8_array, "a Uint8Array", &n);
      const uint32_t* ends = typed_data<uint32_t>(a, 1, napi_uint32_array, "a Uint32Array", &num_ends);
      std::vector<TokenId> ids;
      ids.reserve(n / 2);
      size_t begin = 0;
      for (size_t i = 0; i < num_ends; ++i) {
        NS_CHECK(ends[i] > begin && ends[i] <= n, "encodeByteChunks: chunk end ", ends[i], " out of range");
        encoder_->encode_chunk(bytes + begin, ends[i] - begin, ids);
        begin = ends[i];
      }
      NS_CHECK(begin == n, "encodeByteChunks: chunks cover ", begin, " of ", n, " bytes");
      return int32_array_of(info.Env(), ids);
    });
  }

  // decode(ids: Int32Array) -> Uint8Array; special tokens decode to their names.
  Napi::Value Decode(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      Args a{info, "decode"};
      size_t n = 0;
      const int32_t* ids = typed_data<int32_t>(a, 0, napi_int32_array, "an Int32Array", &n);
      const size_t base = encoder_->num_tokens();
      size_t total = 0;
      for (size_t i = 0; i < n; ++i) {
        NS_CHECK(ids[i] >= 0 && size_t(ids[i]) < vocab_size(), "decode: token id ", ids[i], " at position ", i,
                 " out of range [0, ", vocab_size(), ")");
        total += token(ids[i], base).size();
      }
      auto out = Napi::Uint8Array::New(info.Env(), total);
      uint8_t* dst = out.Data();
      for (size_t i = 0; i < n; ++i) {
        const std::string& b = token(ids[i], base);
        std::memcpy(dst, b.data(), b.size());
        dst += b.size();
      }
      return out;
    });
  }

  // tokenBytes() -> Int32Array: byte length of every id, 0 for special tokens (for bpb).
  Napi::Value TokenBytes(const Napi::CallbackInfo& info) {
    std::vector<TokenId> lengths(vocab_size(), 0);
    for (size_t i = 0; i < encoder_->num_tokens(); ++i)
      lengths[i] = static_cast<TokenId>(encoder_->token_bytes(static_cast<TokenId>(i)).size());
    return int32_array_of(info.Env(), lengths);
  }

 private:
  size_t vocab_size() const { return encoder_->num_tokens() + specials_.size(); }
  const std::string& token(TokenId id, size_t base) const {
    return size_t(id) < base ? encoder_->token_bytes(id) : specials_[size_t(id) - base];
  }

  std::unique_ptr<text::BpeEncoder> encoder_;
  std::vector<std::string> specials_;
};

}  // namespace

void register_tokenizer(Napi::Env env, Napi::Object exports) {
  exports.Set("bpeTrain", Napi::Function::New<BpeTrain>(env, "bpeTrain"));
  exports.Set("BpeTokenizer",
              JsBpeTokenizer::DefineClass(env, "BpeTokenizer",
                                          {
                                              JsBpeTokenizer::InstanceMethod<&JsBpeTokenizer::EncodeTexts>("encodeTexts"),
                                              JsBpeTokenizer::InstanceMethod<&JsBpeTokenizer::EncodeByteChunks>(
                                                  "encodeByteChunks"),
                                              JsBpeTokenizer::InstanceMethod<&JsBpeTokenizer::Decode>("decode"),
                                              JsBpeTokenizer::InstanceMethod<&JsBpeTokenizer::TokenBytes>("tokenBytes"),
                                          }));
}

}  // namespace ns
