// Node-API binding of the CPU world model: the NativeModel object (load from
// tensors or a safetensors file, encode, rollout, decodeProprio, dispose),
// CancelToken, single-op entry points for the parity tests (opForTest) and a
// GEMM timing entry for the benchmarks (gemmBench). Every heavy call is an
// AsyncWorker that owns its Promise, keeps the model object and its input
// arrays referenced while it runs, and reads/writes the arrays in place.
#include <napi.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/safetensors.h"
#include "jepa/gemm.h"
#include "jepa/model.h"
#include "jepa/ops.h"
#include "jepa/thread_pool.h"
#include "napi/bindings.h"

namespace {

using jepa::napi::ErrorFromException;

// ── argument helpers ────────────────────────────────────────────────────────

struct ArrayArg {
  float* data = nullptr;
  size_t length = 0;
};

ArrayArg floatArray(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(env, what + " must be a Float32Array");
  auto a = v.As<Napi::Float32Array>();
  return {a.Data(), a.ElementLength()};
}

ArrayArg optFloatArray(Napi::Env env, Napi::Object o, const char* key, const std::string& what) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return {};
  return floatArray(env, v, what);
}

int intProp(Napi::Env env, Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string("model spec: ") + key + " must be a number");
  return v.As<Napi::Number>().Int32Value();
}
double numProp(Napi::Env env, Napi::Object o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}
bool boolProp(Napi::Object o, const char* key) { return o.Get(key).ToBoolean().Value(); }
std::string strProp(Napi::Env env, Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throw Napi::TypeError::New(env, std::string("model spec: ") + key + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}
std::vector<int> intList(Napi::Env env, Napi::Object o, const char* key) {
  std::vector<int> out;
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return out;
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string("model spec: ") + key + " must be an array");
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(a.Get(i).As<Napi::Number>().Int32Value());
  return out;
}
std::vector<float> floatList(Napi::Env env, Napi::Object o, const char* key) {
  std::vector<float> out;
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return out;
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string("model spec: ") + key + " must be an array");
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(a.Get(i).As<Napi::Number>().FloatValue());
  return out;
}

jepa::Act parseAct(Napi::Env env, const std::string& s) {
  if (s == "gelu") return jepa::Act::Gelu;
  if (s == "relu") return jepa::Act::Relu;
  if (s == "tanh") return jepa::Act::Tanh;
  if (s == "silu") return jepa::Act::Silu;
  if (s == "none") return jepa::Act::None;
  throw Napi::RangeError::New(env, "unknown activation '" + s + "' (gelu, relu, tanh, silu, none)");
}

// The flat model spec built by src/addon/native-model.ts from a parsed config.
jepa::ModelSpec parseSpec(Napi::Env env, Napi::Value value) {
  if (!value.IsObject()) throw Napi::TypeError::New(env, "model spec must be an object");
  Napi::Object o = value.As<Napi::Object>();
  jepa::ModelSpec s;
  s.latent_tokens = intProp(env, o, "latentTokens");
  s.latent_dim = intProp(env, o, "latentDim");
  s.action_dim = intProp(env, o, "actionDim");
  s.proprio_dim = intProp(env, o, "proprioDim");
  s.norm_mean = floatList(env, o, "normMean");
  s.norm_std = floatList(env, o, "normStd");
  if (o.Get("precision").IsString()) {
    const std::string precision = o.Get("precision").As<Napi::String>().Utf8Value();
    if (precision != "float32" && precision != "bfloat16")
      throw Napi::RangeError::New(env, "model spec: precision must be 'float32' or 'bfloat16', got '" + precision + "'");
    s.bf16 = precision == "bfloat16";
  }
  const std::string enc = strProp(env, o, "encoder");
  if (enc == "mlp") {
    s.encoder = jepa::ModelSpec::Encoder::Mlp;
    s.input_dim = intProp(env, o, "inputDim");
    s.enc_hidden = intList(env, o, "encHidden");
    s.enc_act = parseAct(env, strProp(env, o, "encActivation"));
    s.enc_layer_norm = boolProp(o, "encLayerNorm");
    s.enc_out_norm = boolProp(o, "encOutputNorm");
  } else if (enc == "cnn") {
    s.encoder = jepa::ModelSpec::Encoder::Cnn;
    s.in_channels = intProp(env, o, "inChannels");
    s.image_size = intProp(env, o, "imageSize");
    Napi::Array st = o.Get("stages").As<Napi::Array>();
    for (uint32_t i = 0; i < st.Length(); ++i) {
      Napi::Object so = st.Get(i).As<Napi::Object>();
      s.stages.push_back({intProp(env, so, "channels"), intProp(env, so, "kernel"), intProp(env, so, "stride"),
                          intProp(env, so, "padding")});
    }
    s.group_norm = boolProp(o, "groupNorm");
    s.groups = intProp(env, o, "groups");
    s.avgpool = boolProp(o, "avgpool");
    s.head_proprio = o.Has("headProprio") ? intProp(env, o, "headProprio") : 0;
    s.enc_act = parseAct(env, strProp(env, o, "encActivation"));
    s.enc_out_norm = boolProp(o, "encOutputNorm");
  } else if (enc == "vit") {
    s.encoder = jepa::ModelSpec::Encoder::Vit;
    s.in_channels = intProp(env, o, "inChannels");
    s.image_size = intProp(env, o, "imageSize");
    s.patch = intProp(env, o, "patchSize");
    s.embed = intProp(env, o, "embedDim");
    s.depth = intProp(env, o, "depth");
    s.heads = intProp(env, o, "numHeads");
    s.mlp_ratio = numProp(env, o, "mlpRatio", 4);
    s.qkv_bias = boolProp(o, "qkvBias");
    s.layer_scale = boolProp(o, "layerScale");
    s.eps = static_cast<float>(numProp(env, o, "eps", 1e-6));
    const std::string out = strProp(env, o, "vitOutput");
    s.vit_output = out == "cls" ? jepa::ModelSpec::VitOutput::Cls
                   : out == "patch" ? jepa::ModelSpec::VitOutput::Patch
                                    : jepa::ModelSpec::VitOutput::ClsPatch;
  } else {
    throw Napi::RangeError::New(env, "model spec: unknown encoder '" + enc + "'");
  }
  const std::string pred = strProp(env, o, "predictor");
  if (pred == "mlp") {
    s.predictor = jepa::ModelSpec::Predictor::Mlp;
    s.pred_hidden = intList(env, o, "predHidden");
    s.pred_act = parseAct(env, strProp(env, o, "predActivation"));
    s.pred_layer_norm = boolProp(o, "predLayerNorm");
    s.residual = boolProp(o, "residual");
  } else if (pred == "transformer") {
    s.predictor = jepa::ModelSpec::Predictor::Transformer;
    s.p_depth = intProp(env, o, "predDepth");
    s.p_heads = intProp(env, o, "predHeads");
    s.p_mlp_ratio = numProp(env, o, "predMlpRatio", 4);
    s.history = intProp(env, o, "historyLength");
    s.action_embed = intProp(env, o, "actionEmbedDim");
    s.concat = boolProp(o, "concat");
    s.p_qkv_bias = boolProp(o, "predQkvBias");
    s.output_head = boolProp(o, "outputHead");
    s.p_eps = static_cast<float>(numProp(env, o, "predEps", 1e-6));
  } else {
    throw Napi::RangeError::New(env, "model spec: unknown predictor '" + pred + "'");
  }
  return s;
}

// ── cancel token ────────────────────────────────────────────────────────────

class CancelToken : public Napi::ObjectWrap<CancelToken> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "CancelToken",
                       {InstanceMethod("cancel", &CancelToken::Cancel),
                        InstanceAccessor("cancelled", &CancelToken::IsCancelled, nullptr)});
  }
  explicit CancelToken(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<CancelToken>(info), flag_(std::make_shared<std::atomic<bool>>(false)) {}
  std::shared_ptr<std::atomic<bool>> flag() const { return flag_; }

 private:
  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    flag_->store(true);
    return info.Env().Undefined();
  }
  Napi::Value IsCancelled(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), flag_->load()); }
  std::shared_ptr<std::atomic<bool>> flag_;
};

std::shared_ptr<std::atomic<bool>> tokenFlag(Napi::Env env, Napi::Value v) {
  if (v.IsUndefined() || v.IsNull()) return std::make_shared<std::atomic<bool>>(false);
  if (!v.IsObject()) throw Napi::TypeError::New(env, "cancel token must be a CancelToken");
  CancelToken* t = Napi::ObjectWrap<CancelToken>::Unwrap(v.As<Napi::Object>());
  if (!t) throw Napi::TypeError::New(env, "cancel token must be a CancelToken");
  return t->flag();
}

// ── workers ─────────────────────────────────────────────────────────────────

// Base: owns the Promise, references the JS objects it reads or writes, and
// turns C++ exceptions into JS errors (Cancelled → error with code 'CANCELLED').
class ModelWorker : public Napi::AsyncWorker {
 public:
  ModelWorker(Napi::Env env, const char* what)
      : Napi::AsyncWorker(env, what), deferred_(Napi::Promise::Deferred::New(env)), what_(what) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Keep(Napi::Value v) {
    if (v.IsObject()) refs_.push_back(Napi::Persistent(v.As<Napi::Object>()));
  }

 protected:
  virtual void Run() = 0;
  void Execute() override {
    try {
      Run();
    } catch (const jepa::Cancelled&) {
      cancelled_ = true;
      SetError(what_ + " was cancelled");
    } catch (const std::exception& e) {
      error_ = std::make_unique<std::string>(e.what());
      if (auto* se = dynamic_cast<const jepa::SafetensorsError*>(&e)) safetensors_ = std::make_unique<jepa::SafetensorsError>(*se);
      SetError(e.what());
    } catch (...) {
      SetError(what_ + " failed with an unknown native exception");
    }
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& e) override {
    Napi::Env env = Env();
    if (cancelled_) {
      Napi::Error err = Napi::Error::New(env, what_ + " was cancelled");
      err.Value().Set("code", Napi::String::New(env, "CANCELLED"));
      deferred_.Reject(err.Value());
    } else if (safetensors_) {
      deferred_.Reject(ErrorFromException(env, *safetensors_).Value());
    } else {
      deferred_.Reject(e.Value());
    }
  }

  Napi::Promise::Deferred deferred_;
  std::string what_;
  std::vector<Napi::ObjectReference> refs_;
  bool cancelled_ = false;
  std::unique_ptr<std::string> error_;
  std::unique_ptr<jepa::SafetensorsError> safetensors_;
};

class NativeModel;

class LoadWorker : public ModelWorker {
 public:
  LoadWorker(Napi::Env env, NativeModel* owner, jepa::ModelSpec spec, int threads)
      : ModelWorker(env, "model load"), owner_(owner), spec_(std::move(spec)), threads_(threads) {}
  // From tensors held by JS (pointers valid while referenced).
  std::unordered_map<std::string, ArrayArg> tensors;
  // Or from a file.
  std::string path;
  std::vector<jepa::ExpectedTensor> expected;

 protected:
  void Run() override;
  void OnOK() override;

 private:
  NativeModel* owner_;
  jepa::ModelSpec spec_;
  int threads_;
  std::shared_ptr<jepa::CpuModel> model_;
};

class CallWorker : public ModelWorker {
 public:
  CallWorker(Napi::Env env, const char* what, std::shared_ptr<jepa::CpuModel> model,
             std::shared_ptr<std::atomic<bool>> cancel)
      : ModelWorker(env, what), model_(std::move(model)), cancel_(std::move(cancel)) {}
  std::function<void(jepa::CpuModel&, const std::atomic<bool>*)> body;

 protected:
  void Run() override {
    std::lock_guard<std::mutex> lock(model_->call_mutex());
    body(*model_, cancel_.get());
  }

 private:
  std::shared_ptr<jepa::CpuModel> model_;
  std::shared_ptr<std::atomic<bool>> cancel_;
};

// ── the model object ────────────────────────────────────────────────────────

class NativeModel : public Napi::ObjectWrap<NativeModel> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeModel",
                       {InstanceMethod("createFromTensors", &NativeModel::CreateFromTensors),
                        InstanceMethod("loadFromFile", &NativeModel::LoadFromFile),
                        InstanceMethod("encode", &NativeModel::Encode),
                        InstanceMethod("rollout", &NativeModel::Rollout),
                        InstanceMethod("decodeProprio", &NativeModel::DecodeProprio),
                        InstanceMethod("dispose", &NativeModel::Dispose),
                        InstanceAccessor("threads", &NativeModel::Threads, nullptr),
                        InstanceAccessor("isa", &NativeModel::IsaName, nullptr)});
  }
  explicit NativeModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeModel>(info) {}
  void set_model(std::shared_ptr<jepa::CpuModel> m) { model_ = std::move(m); }

 private:
  std::shared_ptr<jepa::CpuModel> require(Napi::Env env, const char* what) {
    if (disposed_) throw Napi::Error::New(env, std::string(what) + " called after dispose()");
    if (!model_) throw Napi::Error::New(env, std::string(what) + " called before the model finished loading");
    return model_;
  }

  Napi::Value CreateFromTensors(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    jepa::ModelSpec spec = parseSpec(env, info[0]);
    if (!info[1].IsObject()) throw Napi::TypeError::New(env, "tensors must be an object of Float32Arrays");
    Napi::Object t = info[1].As<Napi::Object>();
    const int threads = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 0;
    auto* w = new LoadWorker(env, this, std::move(spec), threads);
    Napi::Array names = t.GetPropertyNames();
    for (uint32_t i = 0; i < names.Length(); ++i) {
      const std::string name = names.Get(i).As<Napi::String>().Utf8Value();
      w->tensors[name] = floatArray(env, t.Get(name), "tensor '" + name + "'");
    }
    w->Keep(t);
    w->Keep(Value());
    w->Queue();
    return w->Promise();
  }

  Napi::Value LoadFromFile(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    jepa::ModelSpec spec = parseSpec(env, info[0]);
    if (!info[1].IsString()) throw Napi::TypeError::New(env, "path must be a string");
    if (!info[2].IsArray()) throw Napi::TypeError::New(env, "expected tensors must be an array of {name, shape}");
    const int threads = info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : 0;
    auto* w = new LoadWorker(env, this, std::move(spec), threads);
    w->path = info[1].As<Napi::String>().Utf8Value();
    Napi::Array ex = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < ex.Length(); ++i) {
      Napi::Object e = ex.Get(i).As<Napi::Object>();
      jepa::ExpectedTensor et;
      et.name = e.Get("name").As<Napi::String>().Utf8Value();
      Napi::Array shape = e.Get("shape").As<Napi::Array>();
      for (uint32_t j = 0; j < shape.Length(); ++j)
        et.shape.push_back(static_cast<uint64_t>(shape.Get(j).As<Napi::Number>().Int64Value()));
      w->expected.push_back(std::move(et));
    }
    w->Keep(Value());
    w->Queue();
    return w->Promise();
  }

  using RowFn = void (jepa::CpuModel::*)(const float*, int, float*, const std::atomic<bool>*);

  // (input, count, out, token?): `count` rows of inSize floats → `count` rows of outSize floats,
  // on a worker, arrays used in place. Shared by encode and decodeProprio.
  Napi::Value QueueRows(const Napi::CallbackInfo& info, const char* what, const char* inName, const char* shapes,
                        const std::shared_ptr<jepa::CpuModel>& model, size_t inSize, size_t outSize, RowFn fn) {
    Napi::Env env = info.Env();
    ArrayArg in = floatArray(env, info[0], inName);
    const int count = info[1].As<Napi::Number>().Int32Value();
    ArrayArg out = floatArray(env, info[2], "out");
    if (count < 1 || in.length != count * inSize || out.length != count * outSize)
      throw Napi::RangeError::New(env, std::string(what) + ": " + shapes);
    auto* w = new CallWorker(env, what, model, tokenFlag(env, info[3]));
    w->body = [in, count, out, fn](jepa::CpuModel& m, const std::atomic<bool>* c) { (m.*fn)(in.data, count, out.data, c); };
    w->Keep(info[0]);
    w->Keep(info[2]);
    w->Keep(info[3]);
    w->Keep(Value());
    w->Queue();
    return w->Promise();
  }

  // encode(frames, count, out, token?)
  Napi::Value Encode(const Napi::CallbackInfo& info) {
    auto model = require(info.Env(), "encode");
    return QueueRows(info, "encode", "frames", "frames must be count × inputSize and out count × latentSize", model,
                     model->spec().input_size(), model->spec().latent_size(), &jepa::CpuModel::encode);
  }

  // decodeProprio(latents, count, out, token?)
  Napi::Value DecodeProprio(const Napi::CallbackInfo& info) {
    auto model = require(info.Env(), "decodeProprio");
    if (model->spec().proprio_dim == 0) throw Napi::Error::New(info.Env(), "decodeProprio: this model has no proprio head");
    return QueueRows(info, "decodeProprio", "latents", "latents must be count × latentSize and out count × proprioDim", model,
                     model->spec().latent_size(), model->spec().proprio_dim, &jepa::CpuModel::decode_proprio);
  }

  // rollout(args, token?) — args: see src/addon/native-model-bindings.ts.
  Napi::Value Rollout(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto model = require(env, "rollout");
    if (!info[0].IsObject()) throw Napi::TypeError::New(env, "rollout args must be an object");
    Napi::Object o = info[0].As<Napi::Object>();
    const jepa::ModelSpec& s = model->spec();
    const size_t L = s.latent_size(), A = s.action_dim;
    jepa::RolloutArgs a;
    ArrayArg z0 = floatArray(env, o.Get("z0"), "z0");
    ArrayArg acts = floatArray(env, o.Get("actions"), "actions");
    ArrayArg goal = floatArray(env, o.Get("goal"), "goal");
    ArrayArg energies = floatArray(env, o.Get("energies"), "energies");
    a.horizon = intProp(env, o, "horizon");
    a.n = intProp(env, o, "n");
    a.frames = intProp(env, o, "frames");
    const size_t N = a.n, H = a.horizon, F = a.frames;
    const int hist = s.predictor == jepa::ModelSpec::Predictor::Transformer ? s.history : 1;
    if (a.n < 1 || a.horizon < 1 || a.frames < 1 || a.frames > hist || z0.length != F * L ||
        acts.length != N * H * A || goal.length != L || energies.length != N)
      throw Napi::RangeError::New(env, "rollout: array sizes do not match n, horizon, frames and the model dims");
    a.z0 = z0.data;
    a.actions = acts.data;
    a.goal = goal.data;
    a.energies = energies.data;
    ArrayArg hist_a = optFloatArray(env, o, "actionHistory", "actionHistory");
    if (hist_a.data && hist_a.length != (F - 1) * A) throw Napi::RangeError::New(env, "rollout: actionHistory size");
    a.action_history = hist_a.data;
    a.l2 = boolProp(o, "l2");
    a.terminal_w = static_cast<float>(numProp(env, o, "terminalWeight", 0));
    a.running_w = static_cast<float>(numProp(env, o, "runningWeight", 0));
    a.magnitude_w = static_cast<float>(numProp(env, o, "actionMagnitudeWeight", 0));
    a.rate_w = static_cast<float>(numProp(env, o, "actionRateWeight", 0));
    a.bounds_w = static_cast<float>(numProp(env, o, "boundsWeight", 0));
    ArrayArg prev = optFloatArray(env, o, "previousAction", "previousAction");
    ArrayArg low = optFloatArray(env, o, "low", "low");
    ArrayArg high = optFloatArray(env, o, "high", "high");
    if ((prev.data && prev.length != A) || (low.data && low.length != A) || (high.data && high.length != A))
      throw Napi::RangeError::New(env, "rollout: previousAction/low/high must have actionDim elements");
    a.previous_action = prev.data;
    a.low = low.data;
    a.high = high.data;
    ArrayArg fin = optFloatArray(env, o, "finalLatents", "finalLatents");
    ArrayArg traj = optFloatArray(env, o, "trajectory", "trajectory");
    ArrayArg prop = optFloatArray(env, o, "proprio", "proprio");
    if ((fin.data && fin.length != N * L) || (traj.data && traj.length != N * H * L) ||
        (prop.data && prop.length != N * H * s.proprio_dim))
      throw Napi::RangeError::New(env, "rollout: output array sizes do not match");
    if (prop.data && s.proprio_dim == 0) throw Napi::Error::New(env, "rollout: this model has no proprio head");
    a.final_latents = fin.data;
    a.trajectory = traj.data;
    a.proprio = prop.data;
    auto* w = new CallWorker(env, "rollout", model, tokenFlag(env, info[1]));
    w->body = [a](jepa::CpuModel& m, const std::atomic<bool>* c) { m.rollout(a, c); };
    w->Keep(o);
    for (const char* k : {"z0", "actions", "goal", "energies", "actionHistory", "previousAction", "low", "high",
                          "finalLatents", "trajectory", "proprio"})
      w->Keep(o.Get(k));
    w->Keep(info[1]);
    w->Keep(Value());
    w->Queue();
    return w->Promise();
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    // Running workers hold their own reference; memory goes when the last ends.
    model_.reset();
    disposed_ = true;
    return info.Env().Undefined();
  }
  Napi::Value Threads(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), model_ ? model_->threads() : 0);
  }
  Napi::Value IsaName(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), jepa::isa_name(jepa::active_isa()));
  }

  std::shared_ptr<jepa::CpuModel> model_;
  bool disposed_ = false;
};

void LoadWorker::Run() {
  if (!path.empty()) {
    jepa::WeightArena arena = jepa::loadWeights(path, expected);
    std::unordered_map<std::string, ArrayArg> byName;
    for (const auto& e : arena.entries)
      byName[e.name] = {arena.data.get() + e.offset, static_cast<size_t>(e.count)};
    model_ = std::make_shared<jepa::CpuModel>(
        spec_,
        [&](const std::string& name, size_t* count) -> const float* {
          auto it = byName.find(name);
          if (it == byName.end()) return nullptr;
          *count = it->second.length;
          return it->second.data;
        },
        threads_);
  } else {
    model_ = std::make_shared<jepa::CpuModel>(
        spec_,
        [&](const std::string& name, size_t* count) -> const float* {
          auto it = tensors.find(name);
          if (it == tensors.end()) return nullptr;
          *count = it->second.length;
          return it->second.data;
        },
        threads_);
  }
}

void LoadWorker::OnOK() {
  owner_->set_model(model_);
  deferred_.Resolve(Env().Undefined());
}

// ── test and benchmark entry points ─────────────────────────────────────────

// Temporarily lowers the process-wide kernel ISA (test-only: do not call while
// a model call runs in another thread).
struct IsaScope {
  jepa::Isa saved;
  explicit IsaScope(const std::string& isa) : saved(jepa::active_isa()) {
    if (isa == "scalar") jepa::force_isa(jepa::Isa::Scalar);
    else if (isa == "avx2") jepa::force_isa(jepa::Isa::Avx2);
    else if (isa == "avx512") jepa::force_isa(jepa::Isa::Avx512);
  }
  ~IsaScope() { jepa::force_isa(saved); }
};

// opForTest(name, args): runs one op synchronously and returns a new Float32Array.
Napi::Value OpForTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  Napi::Object o = info[1].As<Napi::Object>();
  const std::string isa = o.Get("isa").IsString() ? o.Get("isa").As<Napi::String>().Utf8Value() : "";
  IsaScope scope(isa);
  const int threads = o.Get("threads").IsNumber() ? o.Get("threads").As<Napi::Number>().Int32Value() : 1;
  std::unique_ptr<jepa::ThreadPool> pool;
  if (threads > 1) pool = std::make_unique<jepa::ThreadPool>(threads);
  auto x = floatArray(env, o.Get("x"), "x");
  auto result = [&](size_t n) { return Napi::Float32Array::New(env, n); };
  try {
    if (name == "linear") {
      const int rows = intProp(env, o, "rows"), in = intProp(env, o, "inDim"), out = intProp(env, o, "outDim");
      auto W = floatArray(env, o.Get("W"), "W");
      ArrayArg b = optFloatArray(env, o, "b", "b");
      ArrayArg acc = optFloatArray(env, o, "accumulate", "accumulate");
      if (x.length != size_t(rows) * in || W.length != size_t(out) * in) throw Napi::RangeError::New(env, "linear sizes");
      jepa::PackedLinear L;
      jepa::pack_linear(L, W.data, b.data, out, in);
      auto y = result(size_t(rows) * out);
      if (acc.data) std::memcpy(y.Data(), acc.data, y.ElementLength() * sizeof(float));
      const jepa::Act act = o.Get("act").IsString() ? parseAct(env, strProp(env, o, "act")) : jepa::Act::None;
      jepa::linear(L, rows, x.data, in, y.Data(), out, acc.data != nullptr, act, pool.get());
      return y;
    }
    if (name == "layernorm") {
      const int rows = intProp(env, o, "rows"), dim = intProp(env, o, "dim");
      auto w = floatArray(env, o.Get("w"), "w");
      auto b = floatArray(env, o.Get("b"), "b");
      auto y = result(size_t(rows) * dim);
      jepa::layernorm(x.data, y.Data(), rows, dim, w.data, b.data, static_cast<float>(numProp(env, o, "eps", 1e-5)),
                      pool.get());
      return y;
    }
    if (name == "groupnorm") {
      const int c = intProp(env, o, "channels"), hw = intProp(env, o, "spatial"), g = intProp(env, o, "groups");
      auto w = floatArray(env, o.Get("w"), "w");
      auto b = floatArray(env, o.Get("b"), "b");
      auto y = result(size_t(c) * hw);
      jepa::groupnorm(x.data, y.Data(), c, hw, g, w.data, b.data, static_cast<float>(numProp(env, o, "eps", 1e-5)));
      return y;
    }
    if (name == "activate") {
      auto y = result(x.length);
      std::memcpy(y.Data(), x.data, x.length * sizeof(float));
      jepa::activate(y.Data(), static_cast<int64_t>(x.length), parseAct(env, strProp(env, o, "act")), pool.get());
      return y;
    }
    if (name == "softmax") {
      const int rows = intProp(env, o, "rows"), n = intProp(env, o, "n");
      auto y = result(x.length);
      std::memcpy(y.Data(), x.data, x.length * sizeof(float));
      jepa::softmax_rows(y.Data(), rows, n, static_cast<float>(numProp(env, o, "scale", 1)));
      return y;
    }
    if (name == "attention") {
      const int samples = intProp(env, o, "samples"), tokens = intProp(env, o, "tokens"),
                width = intProp(env, o, "width"), heads = intProp(env, o, "heads");
      const int frameTokens = static_cast<int>(numProp(env, o, "frameTokens", 0));
      if (x.length != size_t(samples) * tokens * 3 * width) throw Napi::RangeError::New(env, "attention sizes");
      auto y = result(size_t(samples) * tokens * width);
      jepa::attention(x.data, y.Data(), samples, tokens, width, heads, frameTokens, pool.get());
      return y;
    }
    if (name == "conv2d") {
      const int c = intProp(env, o, "channels"), h = intProp(env, o, "height"), w = intProp(env, o, "width");
      const int cout = intProp(env, o, "outChannels"), k = intProp(env, o, "kernel"), stride = intProp(env, o, "stride"),
                pad = intProp(env, o, "padding");
      auto W = floatArray(env, o.Get("W"), "W");
      ArrayArg b = optFloatArray(env, o, "b", "b");
      jepa::PackedLinear L;
      jepa::pack_linear(L, W.data, b.data, cout, c * k * k);
      const int ho = jepa::conv_out(h, k, stride, pad), wo = jepa::conv_out(w, k, stride, pad);
      auto y = result(size_t(cout) * ho * wo);
      int oh = 0, ow = 0;
      jepa::conv2d(x.data, c, h, w, L, k, stride, pad, y.Data(), &oh, &ow, pool.get());
      return y;
    }
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw ErrorFromException(env, e);
  }
  throw Napi::RangeError::New(env, "opForTest: unknown op '" + name +
                                       "' (linear, layernorm, groupnorm, activate, softmax, attention, conv2d)");
}

// gemmBench(n, threads, seconds): GFLOP/s of this library's GEMM on an n×n×n problem.
Napi::Value GemmBench(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int n = info[0].As<Napi::Number>().Int32Value();
  const int threads = info[1].As<Napi::Number>().Int32Value();
  const double seconds = info[2].As<Napi::Number>().DoubleValue();
  std::vector<float> A(size_t(n) * n), B(size_t(n) * n), C(size_t(n) * n);
  for (size_t i = 0; i < A.size(); ++i) {
    A[i] = static_cast<float>((i * 7919) % 1000) / 1000.f - 0.5f;
    B[i] = static_cast<float>((i * 104729) % 1000) / 1000.f - 0.5f;
  }
  jepa::PackedLinear L;
  jepa::pack_linear(L, B.data(), nullptr, n, n);
  jepa::ThreadPool pool(threads);
  jepa::linear(L, n, A.data(), n, C.data(), n, false, jepa::Act::None, &pool);
  int reps = 0;
  auto t0 = std::chrono::steady_clock::now();
  double el = 0;
  do {
    jepa::linear(L, n, A.data(), n, C.data(), n, false, jepa::Act::None, &pool);
    ++reps;
    el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (el < seconds);
  return Napi::Number::New(env, 2.0 * n * n * double(n) * reps / el / 1e9);
}

Napi::Value KernelInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("detected", jepa::isa_name(jepa::detected_isa()));
  o.Set("active", jepa::isa_name(jepa::active_isa()));
  o.Set("hardwareThreads", jepa::ThreadPool::hardware_threads());
  o.Set("amxBf16", jepa::amx_bf16_supported());
  return o;
}

}  // namespace

void InitModel(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeModel", NativeModel::Define(env));
  exports.Set("CancelToken", CancelToken::Define(env));
  exports.Set("opForTest", Napi::Function::New(env, OpForTest, "opForTest"));
  exports.Set("gemmBench", Napi::Function::New(env, GemmBench, "gemmBench"));
  exports.Set("kernelInfo", Napi::Function::New(env, KernelInfo, "kernelInfo"));
}
