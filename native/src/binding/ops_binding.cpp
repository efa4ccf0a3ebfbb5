// Differentiable ops exposed to JS with positional, already-validated arguments.
#include "binding/args.h"
#include "binding/bindings.h"
#include "ops/ops.h"

namespace ns {
namespace {

// Defines a binding `name` whose body reads arguments from `a` and returns a TensorPtr.
#define NS_TENSOR_OP(name, ...)                                    \
  Napi::Value name(const Napi::CallbackInfo& info) {               \
    return guarded(info, [&]() -> Napi::Value {                    \
      Args a{info, #name};                                         \
      return handle_of(info.Env(), [&]() -> TensorPtr { __VA_ARGS__ }()); \
    });                                                            \
  }

BinaryOp binary_op(const Args& a, size_t i) {
  const std::string s = a.info[i].As<Napi::String>().Utf8Value();
  if (s == "add") return BinaryOp::Add;
  if (s == "sub") return BinaryOp::Sub;
  if (s == "mul") return BinaryOp::Mul;
  if (s == "div") return BinaryOp::Div;
  if (s == "maximum") return BinaryOp::Max;
  if (s == "minimum") return BinaryOp::Min;
  throw Napi::TypeError::New(a.env(), "binary: unknown op '" + s + "'");
}

UnaryOp unary_op(const Args& a, size_t i) {
  const std::string s = a.info[i].As<Napi::String>().Utf8Value();
  if (s == "neg") return UnaryOp::Neg;
  if (s == "exp") return UnaryOp::Exp;
  if (s == "log") return UnaryOp::Log;
  if (s == "sqrt") return UnaryOp::Sqrt;
  if (s == "rsqrt") return UnaryOp::Rsqrt;
  if (s == "sigmoid") return UnaryOp::Sigmoid;
  if (s == "tanh") return UnaryOp::Tanh;
  if (s == "relu") return UnaryOp::Relu;
  if (s == "square") return UnaryOp::Square;
  if (s == "abs") return UnaryOp::Abs;
  throw Napi::TypeError::New(a.env(), "unary: unknown op '" + s + "'");
}

NS_TENSOR_OP(binaryOp, return binary(binary_op(a, 0), a.tensor(1), a.tensor(2));)
NS_TENSOR_OP(unaryOp, return unary(unary_op(a, 0), a.tensor(1));)
NS_TENSOR_OP(addScalar, return add_scalar(a.tensor(0), a.number(1));)
NS_TENSOR_OP(mulScalar, return mul_scalar(a.tensor(0), a.number(1));)
NS_TENSOR_OP(powScalar, return pow_scalar(a.tensor(0), a.number(1));)
NS_TENSOR_OP(sumOp, return sum(a.tensor(0), a.ints(1), a.boolean(2));)
NS_TENSOR_OP(meanOp, return mean(a.tensor(0), a.ints(1), a.boolean(2));)
NS_TENSOR_OP(reshapeOp, return reshape(a.tensor(0), a.ints(1));)
NS_TENSOR_OP(transposeOp, return transpose(a.tensor(0), a.integer(1), a.integer(2));)
NS_TENSOR_OP(sliceOp, return slice(a.tensor(0), a.integer(1), a.integer(2), a.integer(3));)
NS_TENSOR_OP(contiguousOp, return contiguous(a.tensor(0));)
NS_TENSOR_OP(concatOp, return concat(a.tensors(0), a.integer(1));)
NS_TENSOR_OP(castOp, return cast(a.tensor(0), a.dtype(1));)
NS_TENSOR_OP(toOp, return to_device(a.tensor(0), a.device(1));)
NS_TENSOR_OP(expandOp, return expand(a.tensor(0), a.ints(1));)
NS_TENSOR_OP(matmulOp, return matmul(a.tensor(0), a.tensor(1));)
NS_TENSOR_OP(linearOp, return linear(a.tensor(0), a.tensor(1));)
NS_TENSOR_OP(embeddingOp, return embedding(a.tensor(0), a.tensor(1));)
NS_TENSOR_OP(rmsNormOp, return rms_norm(a.tensor(0), a.optional_tensor(1), a.number(2));)
NS_TENSOR_OP(rotaryOp, return rotary(a.tensor(0), a.tensor(1), a.tensor(2));)
NS_TENSOR_OP(attentionOp, return attention(a.tensor(0), a.tensor(1), a.tensor(2), a.integer(3), a.number(4));)
NS_TENSOR_OP(crossEntropyOp,
             return cross_entropy(a.tensor(0), a.tensor(1), a.integer(2), a.number(3), a.boolean(4));)

#undef NS_TENSOR_OP

}  // namespace

void register_ops(Napi::Env env, Napi::Object exports) {
  auto add = [&](const char* name, Napi::Value (*fn)(const Napi::CallbackInfo&)) {
    exports.Set(name, Napi::Function::New(env, fn, name));
  };
  add("binary", binaryOp);
  add("unary", unaryOp);
  add("addScalar", addScalar);
  add("mulScalar", mulScalar);
  add("powScalar", powScalar);
  add("sum", sumOp);
  add("mean", meanOp);
  add("reshape", reshapeOp);
  add("transpose", transposeOp);
  add("slice", sliceOp);
  add("contiguous", contiguousOp);
  add("concat", concatOp);
  add("cast", castOp);
  add("to", toOp);
  add("expand", expandOp);
  add("matmul", matmulOp);
  add("linear", linearOp);
  add("embedding", embeddingOp);
  add("rmsNorm", rmsNormOp);
  add("rotary", rotaryOp);
  add("attention", attentionOp);
  add("crossEntropy", crossEntropyOp);
}

}  // namespace ns
