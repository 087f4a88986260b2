// Node-API binding of the training kernels (jepa/train.h): one object
// `train` whose methods run one op each on caller-owned Float32Arrays, in
// place (outputs are arguments, never allocated here). Every op exists twice:
// `name(args)` runs synchronously (small tensors, gradient checks) and
// `nameAsync(args)` runs as an AsyncWorker off the event loop, keeping the
// argument object referenced until it settles. Every array length is checked
// against the shape arguments before any kernel runs; a mismatch throws a
// TypeError/RangeError naming the op, the argument and the expected length.
#include <napi.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>

#include "jepa/gemm.h"
#include "jepa/ops.h"
#include "jepa/thread_pool.h"
#include "jepa/train.h"
#include "napi/bindings.h"

namespace {

using jepa::napi::ErrorFromException;

// Reads the argument object of one op and checks array sizes.
class Args {
 public:
  Args(Napi::Env env, const Napi::CallbackInfo& info, std::string op) : env_(env), op_(std::move(op)) {
    if (info.Length() < 1 || !info[0].IsObject())
      throw Napi::TypeError::New(env, "train." + op_ + ": expected one argument object");
    obj_ = info[0].As<Napi::Object>();
  }
  Napi::Object object() const { return obj_; }

  // An integer argument; `fallback` (when >= min) is used when the key is absent.
  int integer(const char* key, int min = 1, int fallback = -1) const {
    Napi::Value v = obj_.Get(key);
    if (v.IsUndefined() && fallback >= min) return fallback;
    if (!v.IsNumber()) throw Napi::TypeError::New(env_, "train." + op_ + ": '" + key + "' must be a number");
    const double d = v.As<Napi::Number>().DoubleValue();
    if (d != std::floor(d) || d < min || d > 2147483647.0)
      throw Napi::RangeError::New(env_, "train." + op_ + ": '" + key + "' must be an integer >= " + std::to_string(min) +
                                            " (got " + std::to_string(d) + ")");
    return static_cast<int>(d);
  }
  double number(const char* key, double fallback) const {
    Napi::Value v = obj_.Get(key);
    if (v.IsUndefined()) return fallback;
    if (!v.IsNumber()) throw Napi::TypeError::New(env_, "train." + op_ + ": '" + key + "' must be a number");
    return v.As<Napi::Number>().DoubleValue();
  }
  std::string text(const char* key, const std::string& fallback) const {
    Napi::Value v = obj_.Get(key);
    if (v.IsUndefined()) return fallback;
    if (!v.IsString()) throw Napi::TypeError::New(env_, "train." + op_ + ": '" + key + "' must be a string");
    return v.As<Napi::String>().Utf8Value();
  }
  // A Float32Array of exactly n elements; null when optional and absent.
  float* array(const char* key, size_t n, bool required = true) const {
    Napi::Value v = obj_.Get(key);
    if (v.IsUndefined() || v.IsNull()) {
      if (required) throw Napi::TypeError::New(env_, "train." + op_ + ": '" + key + "' (Float32Array) is required");
      return nullptr;
    }
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw Napi::TypeError::New(env_, "train." + op_ + ": '" + key + "' must be a Float32Array");
    auto a = v.As<Napi::Float32Array>();
    if (a.ElementLength() != n)
      throw Napi::RangeError::New(env_, "train." + op_ + ": '" + key + "' has " + std::to_string(a.ElementLength()) +
                                            " elements, expected " + std::to_string(n) + " for the given shape");
    return a.Data();
  }
  jepa::Act act(const char* key) const {
    const std::string s = text(key, "gelu");
    if (s == "gelu") return jepa::Act::Gelu;
    if (s == "relu") return jepa::Act::Relu;
    if (s == "tanh") return jepa::Act::Tanh;
    if (s == "silu") return jepa::Act::Silu;
    if (s == "none") return jepa::Act::None;
    throw Napi::RangeError::New(env_, "train." + op_ + ": '" + key + "' must be gelu, relu, tanh, silu or none (got '" +
                                          s + "')");
  }

 private:
  Napi::Env env_;
  std::string op_;
  Napi::Object obj_;
};

using Kernel = std::function<void()>;
// Parses arguments on the JS thread and returns the kernel to run.
using Prepare = Kernel (*)(const Args& a);

class OpWorker : public Napi::AsyncWorker {
 public:
  OpWorker(Napi::Env env, Napi::Object args, Kernel kernel)
      : Napi::AsyncWorker(env, "jepa.train"), deferred_(Napi::Promise::Deferred::New(env)), kernel_(std::move(kernel)) {
    args_ = Napi::Persistent(args);
  }
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      kernel_();
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference args_;
  Kernel kernel_;
};

template <Prepare P>
Napi::Value RunSync(const Napi::CallbackInfo& info, const char* name) {
  Napi::Env env = info.Env();
  try {
    Kernel k = P(Args(env, info, name));
    k();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw ErrorFromException(env, e);
  }
  return env.Undefined();
}

template <Prepare P>
Napi::Value RunAsync(const Napi::CallbackInfo& info, const char* name) {
  Napi::Env env = info.Env();
  Args a(env, info, name);
  Kernel k;
  try {
    k = P(a);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw ErrorFromException(env, e);
  }
  auto* w = new OpWorker(env, a.object(), std::move(k));
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

// ── op argument parsing ─────────────────────────────────────────────────────

size_t mul(size_t a, size_t b) { return a * b; }

Kernel PrepLinear(const Args& a) {
  const int rows = a.integer("rows"), in = a.integer("inDim"), out = a.integer("outDim");
  const float* x = a.array("x", mul(rows, in));
  const float* W = a.array("W", mul(out, in));
  const float* b = a.array("b", out, false);
  float* y = a.array("y", mul(rows, out));
  return [=] { jepa::linear_forward(x, W, b, y, rows, in, out, jepa::train_pool()); };
}

Kernel PrepLinearBackward(const Args& a) {
  const int rows = a.integer("rows"), in = a.integer("inDim"), out = a.integer("outDim");
  const float* x = a.array("x", mul(rows, in));
  const float* W = a.array("W", mul(out, in));
  const float* dY = a.array("dY", mul(rows, out));
  float* dX = a.array("dX", mul(rows, in), false);
  float* dW = a.array("dW", mul(out, in), false);
  float* db = a.array("db", out, false);
  return [=] { jepa::linear_backward(x, W, dY, dX, dW, db, rows, in, out, jepa::train_pool()); };
}

Kernel PrepLayerNorm(const Args& a) {
  const int rows = a.integer("rows"), dim = a.integer("dim");
  const float eps = static_cast<float>(a.number("eps", 1e-5));
  const float* x = a.array("x", mul(rows, dim));
  const float* w = a.array("w", dim);
  const float* b = a.array("b", dim);
  float* y = a.array("y", mul(rows, dim));
  return [=] { jepa::layernorm(x, y, rows, dim, w, b, eps, jepa::train_pool()); };
}

Kernel PrepLayerNormBackward(const Args& a) {
  const int rows = a.integer("rows"), dim = a.integer("dim");
  const float eps = static_cast<float>(a.number("eps", 1e-5));
  const float* x = a.array("x", mul(rows, dim));
  const float* w = a.array("w", dim);
  const float* dY = a.array("dY", mul(rows, dim));
  float* dX = a.array("dX", mul(rows, dim), false);
  float* dw = a.array("dw", dim, false);
  float* db = a.array("db", dim, false);
  return [=] { jepa::layernorm_backward(x, w, dY, dX, dw, db, rows, dim, eps, jepa::train_pool()); };
}

Kernel PrepGroupNorm(const Args& a) {
  const int images = a.integer("images"), ch = a.integer("channels"), hw = a.integer("spatial"),
            groups = a.integer("groups");
  if (ch % groups != 0) throw std::invalid_argument("train.groupNorm: channels must be a multiple of groups");
  const float eps = static_cast<float>(a.number("eps", 1e-5));
  const size_t n = mul(mul(images, ch), hw);
  const float* x = a.array("x", n);
  const float* w = a.array("w", ch);
  const float* b = a.array("b", ch);
  float* y = a.array("y", n);
  return [=] {
    for (int i = 0; i < images; ++i)
      jepa::groupnorm(x + mul(i, ch) * hw, y + mul(i, ch) * hw, ch, hw, groups, w, b, eps);
  };
}

Kernel PrepGroupNormBackward(const Args& a) {
  const int images = a.integer("images"), ch = a.integer("channels"), hw = a.integer("spatial"),
            groups = a.integer("groups");
  const float eps = static_cast<float>(a.number("eps", 1e-5));
  const size_t n = mul(mul(images, ch), hw);
  const float* x = a.array("x", n);
  const float* w = a.array("w", ch);
  const float* dY = a.array("dY", n);
  float* dX = a.array("dX", n, false);
  float* dw = a.array("dw", ch, false);
  float* db = a.array("db", ch, false);
  return [=] { jepa::groupnorm_backward(x, w, dY, dX, dw, db, images, ch, hw, groups, eps, jepa::train_pool()); };
}

Kernel PrepActivation(const Args& a) {
  const jepa::Act act = a.act("act");
  const int n = a.integer("n");
  const float* x = a.array("x", n);
  float* y = a.array("y", n);
  return [=] {
    if (y != x) std::copy(x, x + n, y);
    jepa::activate(y, n, act, jepa::train_pool());
  };
}

Kernel PrepActivationBackward(const Args& a) {
  const jepa::Act act = a.act("act");
  const int n = a.integer("n");
  const float* x = a.array("x", n);
  const float* dY = a.array("dY", n);
  float* dX = a.array("dX", n);
  return [=] { jepa::activation_backward(x, dY, dX, n, act, jepa::train_pool()); };
}

struct AttnShape {
  int samples, tokens, width, heads, frame;
};
AttnShape attnShape(const Args& a) {
  AttnShape s{a.integer("samples"), a.integer("tokens"), a.integer("width"), a.integer("heads"),
              a.integer("frameTokens", 0, 0)};
  if (s.width % s.heads != 0) throw std::invalid_argument("train.attention: width must be a multiple of heads");
  if (s.frame > 0 && s.tokens % s.frame != 0)
    throw std::invalid_argument("train.attention: tokens must be a multiple of frameTokens");
  return s;
}

Kernel PrepAttention(const Args& a) {
  const AttnShape s = attnShape(a);
  const size_t rows = mul(s.samples, s.tokens);
  const float* qkv = a.array("qkv", mul(rows, 3 * s.width));
  float* out = a.array("out", mul(rows, s.width));
  return [=] { jepa::attention(qkv, out, s.samples, s.tokens, s.width, s.heads, s.frame, jepa::train_pool()); };
}

Kernel PrepAttentionBackward(const Args& a) {
  const AttnShape s = attnShape(a);
  const size_t rows = mul(s.samples, s.tokens);
  const float* qkv = a.array("qkv", mul(rows, 3 * s.width));
  const float* dOut = a.array("dOut", mul(rows, s.width));
  float* dQkv = a.array("dQkv", mul(rows, 3 * s.width));
  return [=] {
    jepa::attention_backward(qkv, dOut, dQkv, s.samples, s.tokens, s.width, s.heads, s.frame, jepa::train_pool());
  };
}

struct ConvShape {
  int images, C, H, W, Cout, k, stride, pad, Ho, Wo;
};
ConvShape convShape(const Args& a) {
  ConvShape s{a.integer("images"), a.integer("inC"), a.integer("inH"), a.integer("inW"), a.integer("outC"),
              a.integer("kernel"), a.integer("stride"), a.integer("padding", 0, 0), 0, 0};
  s.Ho = jepa::conv_out(s.H, s.k, s.stride, s.pad);
  s.Wo = jepa::conv_out(s.W, s.k, s.stride, s.pad);
  if (s.Ho < 1 || s.Wo < 1) throw std::invalid_argument("train.conv2d: the kernel leaves no output pixels");
  return s;
}

Kernel PrepConv2d(const Args& a) {
  const ConvShape s = convShape(a);
  const float* x = a.array("x", mul(mul(s.images, s.C), mul(s.H, s.W)));
  const float* W = a.array("weight", mul(mul(s.Cout, s.C), mul(s.k, s.k)));
  const float* b = a.array("bias", s.Cout, false);
  float* y = a.array("y", mul(mul(s.images, s.Cout), mul(s.Ho, s.Wo)));
  return [=] {
    jepa::conv2d_forward(x, W, b, y, s.images, s.C, s.H, s.W, s.Cout, s.k, s.stride, s.pad, jepa::train_pool());
  };
}

Kernel PrepConv2dBackward(const Args& a) {
  const ConvShape s = convShape(a);
  const float* x = a.array("x", mul(mul(s.images, s.C), mul(s.H, s.W)));
  const float* W = a.array("weight", mul(mul(s.Cout, s.C), mul(s.k, s.k)));
  const float* dY = a.array("dY", mul(mul(s.images, s.Cout), mul(s.Ho, s.Wo)));
  float* dX = a.array("dX", mul(mul(s.images, s.C), mul(s.H, s.W)), false);
  float* dW = a.array("dWeight", mul(mul(s.Cout, s.C), mul(s.k, s.k)), false);
  float* db = a.array("dBias", s.Cout, false);
  return [=] {
    jepa::conv2d_backward(x, W, dY, dX, dW, db, s.images, s.C, s.H, s.W, s.Cout, s.k, s.stride, s.pad,
                          jepa::train_pool());
  };
}

Kernel PrepAdamW(const Args& a) {
  const int n = a.integer("n");
  float* p = a.array("param", n);
  const float* g = a.array("grad", n);
  float* m = a.array("m", n);
  float* v = a.array("v", n);
  jepa::AdamWParams hp;
  hp.lr = static_cast<float>(a.number("lr", hp.lr));
  hp.beta1 = static_cast<float>(a.number("beta1", hp.beta1));
  hp.beta2 = static_cast<float>(a.number("beta2", hp.beta2));
  hp.eps = static_cast<float>(a.number("eps", hp.eps));
  hp.weight_decay = static_cast<float>(a.number("weightDecay", hp.weight_decay));
  hp.step = a.integer("step", 1);
  return [=] { jepa::adamw_step(p, g, m, v, n, hp, jepa::train_pool()); };
}

template <Prepare P>
void Register(Napi::Env env, Napi::Object obj, const char* name) {
  static std::string sync_name;  // one per template instantiation
  sync_name = name;
  obj.Set(name, Napi::Function::New(env, [](const Napi::CallbackInfo& info) { return RunSync<P>(info, sync_name.c_str()); },
                                    name));
  const std::string async_name = std::string(name) + "Async";
  obj.Set(async_name, Napi::Function::New(
                          env, [](const Napi::CallbackInfo& info) { return RunAsync<P>(info, sync_name.c_str()); },
                          async_name));
}

}  // namespace

void InitTrain(Napi::Env env, Napi::Object exports) {
  Napi::Object train = Napi::Object::New(env);
  Register<PrepLinear>(env, train, "linear");
  Register<PrepLinearBackward>(env, train, "linearBackward");
  Register<PrepLayerNorm>(env, train, "layerNorm");
  Register<PrepLayerNormBackward>(env, train, "layerNormBackward");
  Register<PrepGroupNorm>(env, train, "groupNorm");
  Register<PrepGroupNormBackward>(env, train, "groupNormBackward");
  Register<PrepActivation>(env, train, "activation");
  Register<PrepActivationBackward>(env, train, "activationBackward");
  Register<PrepAttention>(env, train, "attention");
  Register<PrepAttentionBackward>(env, train, "attentionBackward");
  Register<PrepConv2d>(env, train, "conv2d");
  Register<PrepConv2dBackward>(env, train, "conv2dBackward");
  Register<PrepAdamW>(env, train, "adamwStep");
  exports.Set("train", train);
}
