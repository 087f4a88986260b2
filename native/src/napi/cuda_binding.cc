// Node-API binding of the CUDA backend (native/src/cuda): the CudaModel object
// (createFromTensors, encode, rollout, decodeProprio, planCem, dispose), a
// device check, and single forward ops and training kernels for the parity suite. Every heavy call is an
// AsyncWorker that owns its Promise, keeps its arrays and the model alive
// while it runs, and turns C++ exceptions into JS errors (code
// 'CUDA_NO_DEVICE', 'CUDA_BAD_ARGUMENT' or 'CUDA_ERROR'). Arrays are read and
// written in place. Compiled to nothing unless the addon is built with CUDA
// (node-gyp builds list this file too).
#ifdef JEPA_WITH_CUDA

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cuda/model.h"
#include "napi/bindings.h"

namespace {

using jepa::cuda::Act;
using jepa::cuda::Spec;

Napi::Error toJsError(Napi::Env env, const std::exception& e) {
  Napi::Error err = jepa::napi::ErrorFromException(env, e);
  const char* code = "CUDA_ERROR";
  if (dynamic_cast<const jepa::cuda::NoDeviceError*>(&e)) code = "CUDA_NO_DEVICE";
  else if (dynamic_cast<const jepa::cuda::ShapeError*>(&e)) code = "CUDA_BAD_ARGUMENT";
  else if (dynamic_cast<const jepa::cuda::TensorError*>(&e)) code = "CUDA_BAD_TENSOR";
  err.Value().Set("code", Napi::String::New(env, code));
  return err;
}

[[noreturn]] void typeError(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }

int intField(const Napi::Object& o, const char* key, int fallback, bool required = false) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) {
    if (required) typeError(o.Env(), std::string(key) + " is required");
    return fallback;
  }
  if (!v.IsNumber()) typeError(o.Env(), std::string(key) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<int>(d)) typeError(o.Env(), std::string(key) + " must be an integer");
  return static_cast<int>(d);
}

double numField(const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) typeError(o.Env(), std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

bool boolField(const Napi::Object& o, const char* key, bool fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsBoolean()) typeError(o.Env(), std::string(key) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string strField(const Napi::Object& o, const char* key, const std::string& fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsString()) typeError(o.Env(), std::string("spec.") + key + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

template <typename T>
std::vector<T> arrayField(const Napi::Object& o, const char* key) {
  std::vector<T> out;
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return out;
  if (!v.IsArray()) typeError(o.Env(), std::string("spec.") + key + " must be an array");
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    if (!e.IsNumber()) typeError(o.Env(), std::string("spec.") + key + "[" + std::to_string(i) + "] must be a number");
    out.push_back(static_cast<T>(e.As<Napi::Number>().DoubleValue()));
  }
  return out;
}

Act parseAct(Napi::Env env, const std::string& s) {
  if (s == "gelu") return Act::Gelu;
  if (s == "relu") return Act::Relu;
  if (s == "tanh") return Act::Tanh;
  if (s == "silu") return Act::Silu;
  if (s == "none") return Act::None;
  typeError(env, "unknown activation '" + s + "' (gelu, relu, tanh, silu, none)");
}

Spec parseSpec(const Napi::Object& o) {
  Napi::Env env = o.Env();
  Spec s;
  s.latentTokens = intField(o, "latentTokens", 1, true);
  s.latentDim = intField(o, "latentDim", 0, true);
  s.actionDim = intField(o, "actionDim", 0, true);
  s.proprioDim = intField(o, "proprioDim", 0);
  s.normMean = arrayField<float>(o, "normMean");
  s.normStd = arrayField<float>(o, "normStd");
  const std::string enc = strField(o, "encoder", "");
  if (enc == "mlp") s.encoder = Spec::Encoder::Mlp;
  else if (enc == "cnn") s.encoder = Spec::Encoder::Cnn;
  else if (enc == "vit") s.encoder = Spec::Encoder::Vit;
  else typeError(env, "spec.encoder must be 'mlp', 'cnn' or 'vit', got '" + enc + "'");
  s.inputDim = intField(o, "inputDim", 0);
  s.encHidden = arrayField<int>(o, "encHidden");
  s.encAct = parseAct(env, strField(o, "encActivation", "gelu"));
  s.encLayerNorm = boolField(o, "encLayerNorm", false);
  s.encOutputNorm = boolField(o, "encOutputNorm", false);
  s.inChannels = intField(o, "inChannels", 3);
  s.imageSize = intField(o, "imageSize", 0);
  Napi::Value stages = o.Get("stages");
  if (stages.IsArray()) {
    Napi::Array a = stages.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      if (!a.Get(i).IsObject()) typeError(env, "spec.stages[" + std::to_string(i) + "] must be an object");
      Napi::Object st = a.Get(i).As<Napi::Object>();
      jepa::cuda::Stage g;
      g.channels = intField(st, "channels", 0, true);
      g.kernel = intField(st, "kernel", 1, true);
      g.stride = intField(st, "stride", 1);
      g.padding = intField(st, "padding", 0);
      s.stages.push_back(g);
    }
  }
  s.groupNorm = boolField(o, "groupNorm", true);
  s.groups = intField(o, "groups", 8);
  s.avgpool = boolField(o, "avgpool", false);
  s.headProprio = intField(o, "headProprio", 0);
  s.patchSize = intField(o, "patchSize", 0);
  s.embedDim = intField(o, "embedDim", 0);
  s.depth = intField(o, "depth", 0);
  s.numHeads = intField(o, "numHeads", 0);
  s.mlpRatio = numField(o, "mlpRatio", 4);
  s.qkvBias = boolField(o, "qkvBias", true);
  s.layerScale = boolField(o, "layerScale", false);
  s.eps = static_cast<float>(numField(o, "eps", 1e-6));
  const std::string out = strField(o, "vitOutput", "cls");
  s.vitOutput = out == "patch" ? Spec::VitOutput::Patch : out == "cls+patch" ? Spec::VitOutput::ClsPatch : Spec::VitOutput::Cls;
  const std::string pred = strField(o, "predictor", "");
  if (pred == "mlp") s.predictor = Spec::Predictor::Mlp;
  else if (pred == "transformer") s.predictor = Spec::Predictor::Transformer;
  else typeError(env, "spec.predictor must be 'mlp' or 'transformer', got '" + pred + "'");
  s.predHidden = arrayField<int>(o, "predHidden");
  s.predAct = parseAct(env, strField(o, "predActivation", "gelu"));
  s.predLayerNorm = boolField(o, "predLayerNorm", false);
  s.residual = boolField(o, "residual", true);
  s.predDepth = intField(o, "predDepth", 0);
  s.predHeads = intField(o, "predHeads", 0);
  s.predMlpRatio = numField(o, "predMlpRatio", 4);
  s.historyLength = intField(o, "historyLength", 1);
  s.actionEmbedDim = intField(o, "actionEmbedDim", 0);
  s.concat = boolField(o, "concat", true);
  s.predQkvBias = boolField(o, "predQkvBias", true);
  s.outputHead = boolField(o, "outputHead", true);
  s.predEps = static_cast<float>(numField(o, "predEps", 1e-6));
  return s;
}

// Keeps JS values alive for the duration of an async call.
class Keep {
 public:
  void add(Napi::Value v) {
    if (v.IsObject()) refs_.push_back(Napi::Persistent(v.As<Napi::Object>()));
  }

 private:
  std::vector<Napi::ObjectReference> refs_;
};

// A Float32Array argument (null when absent and optional); checks the element count when expected >= 0.
float* f32(Keep& keep, const Napi::Value& v, const std::string& name, long long expected, bool optional) {
  if (v.IsUndefined() || v.IsNull()) {
    if (optional) return nullptr;
    typeError(v.Env(), name + " is required (a Float32Array)");
  }
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    typeError(v.Env(), name + " must be a Float32Array");
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  if (expected >= 0 && static_cast<long long>(a.ElementLength()) != expected)
    throw Napi::RangeError::New(v.Env(), name + " must have " + std::to_string(expected) + " elements, got " +
                                             std::to_string(a.ElementLength()));
  keep.add(v);
  return a.Data();
}

class Worker : public Napi::AsyncWorker {
 public:
  explicit Worker(Napi::Env env)
      : Napi::AsyncWorker(env, "jepa.cuda"), deferred_(Napi::Promise::Deferred::New(env)) {}
  Keep keep;
  std::function<void()> work;
  std::function<Napi::Value(Napi::Env)> result;
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      work();
    } catch (const std::exception& e) {
      error_ = std::current_exception();
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(result ? result(Env()) : Env().Undefined()); }
  void OnError(const Napi::Error& fallback) override {
    try {
      if (error_) std::rethrow_exception(error_);
    } catch (const std::exception& e) {
      deferred_.Reject(toJsError(Env(), e).Value());
      return;
    }
    deferred_.Reject(fallback.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::exception_ptr error_;
};

class CudaModel : public Napi::ObjectWrap<CudaModel> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "CudaModel",
                       {InstanceMethod("createFromTensors", &CudaModel::Create),
                        InstanceMethod("encode", &CudaModel::Encode),
                        InstanceMethod("rollout", &CudaModel::Rollout),
                        InstanceMethod("decodeProprio", &CudaModel::DecodeProprio),
                        InstanceMethod("planCem", &CudaModel::PlanCem),
                        InstanceMethod("dispose", &CudaModel::Dispose),
                        InstanceAccessor("fusedRollout", &CudaModel::Fused, nullptr),
                        InstanceAccessor("deviceName", &CudaModel::DeviceName, nullptr)});
  }
  explicit CudaModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CudaModel>(info) {}

 private:
  std::shared_ptr<jepa::cuda::Model> model_;
  Spec spec_;

  std::shared_ptr<jepa::cuda::Model> live(Napi::Env env, const char* what) {
    if (!model_) throw Napi::Error::New(env, std::string("CudaModel.") + what + ": the model is not loaded or was disposed");
    return model_;
  }

  Napi::Value Create(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (model_) throw Napi::Error::New(env, "CudaModel.createFromTensors: already created");
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsObject())
      typeError(env, "createFromTensors(spec, tensors): spec and tensors must be objects");
    Spec spec = parseSpec(info[0].As<Napi::Object>());
    auto tensors = std::make_shared<std::map<std::string, std::pair<const float*, std::size_t>>>();
    Napi::Object rec = info[1].As<Napi::Object>();
    Napi::Array names = rec.GetPropertyNames();
    auto w = std::make_unique<Worker>(env);
    for (uint32_t i = 0; i < names.Length(); ++i) {
      const std::string name = names.Get(i).As<Napi::String>().Utf8Value();
      Napi::Value v = rec.Get(name);
      float* data = f32(w->keep, v, "tensors['" + name + "']", -1, false);
      (*tensors)[name] = {data, v.As<Napi::Float32Array>().ElementLength()};
    }
    auto out = std::make_shared<std::shared_ptr<jepa::cuda::Model>>();
    w->keep.add(Value());
    w->work = [spec, tensors, out]() {
      *out = std::make_shared<jepa::cuda::Model>(spec, [tensors](const std::string& n, std::size_t* count) -> const float* {
        auto it = tensors->find(n);
        if (it == tensors->end()) return nullptr;
        *count = it->second.second;
        return it->second.first;
      });
    };
    return Start(w.release(), [this, out, spec](Napi::Env e) {
      model_ = *out;
      spec_ = spec;
      return e.Undefined();
    });
  }

  Napi::Value Start(Worker* w, std::function<Napi::Value(Napi::Env)> result) {
    w->result = std::move(result);
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  }

  Napi::Value Encode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto m = live(env, "encode");
    const int count = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
    if (count <= 0) throw Napi::RangeError::New(env, "encode: count must be a positive integer");
    auto w = std::make_unique<Worker>(env);
    const float* frames = f32(w->keep, info[0], "frames", 1LL * count * spec_.inputSize(), false);
    float* out = f32(w->keep, info[2], "out", 1LL * count * spec_.latentSize(), false);
    w->keep.add(Value());
    w->work = [m, frames, count, out]() { m->encode(frames, count, out); };
    return Start(w.release(), nullptr);
  }

  Napi::Value DecodeProprio(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto m = live(env, "decodeProprio");
    const int count = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
    if (count <= 0) throw Napi::RangeError::New(env, "decodeProprio: count must be a positive integer");
    auto w = std::make_unique<Worker>(env);
    const float* z = f32(w->keep, info[0], "latents", 1LL * count * spec_.latentSize(), false);
    float* out = f32(w->keep, info[2], "out", 1LL * count * spec_.proprioDim, false);
    w->keep.add(Value());
    w->work = [m, z, count, out]() { m->decodeProprio(z, count, out); };
    return Start(w.release(), nullptr);
  }

  jepa::cuda::Cost parseCost(Keep& keep, const Napi::Object& a) {
    const int A = spec_.actionDim;
    jepa::cuda::Cost c;
    c.l2 = boolField(a, "l2", false);
    c.terminalWeight = static_cast<float>(numField(a, "terminalWeight", 0));
    c.runningWeight = static_cast<float>(numField(a, "runningWeight", 0));
    c.actionMagnitudeWeight = static_cast<float>(numField(a, "actionMagnitudeWeight", 0));
    c.actionRateWeight = static_cast<float>(numField(a, "actionRateWeight", 0));
    c.boundsWeight = static_cast<float>(numField(a, "boundsWeight", 0));
    c.previousAction = f32(keep, a.Get("previousAction"), "previousAction", A, true);
    c.low = f32(keep, a.Get("low"), "low", A, true);
    c.high = f32(keep, a.Get("high"), "high", A, true);
    if (c.boundsWeight > 0 && (!c.low || !c.high))
      throw Napi::RangeError::New(a.Env(), "boundsWeight > 0 needs low and high");
    return c;
  }

  Napi::Value Rollout(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto m = live(env, "rollout");
    if (!info[0].IsObject()) typeError(env, "rollout(args): args must be an object");
    Napi::Object a = info[0].As<Napi::Object>();
    const long long L = spec_.latentSize(), A = spec_.actionDim, P = spec_.proprioDim;
    jepa::cuda::RolloutCall c;
    c.frames = intField(a, "frames", 1);
    c.n = intField(a, "n", 0, true);
    c.horizon = intField(a, "horizon", 0, true);
    if (c.n <= 0 || c.horizon <= 0 || c.frames < 1 || c.frames > spec_.historyLength)
      throw Napi::RangeError::New(env, "rollout: n, horizon must be positive and 1 <= frames <= historyLength");
    const long long N = c.n, H = c.horizon;
    auto w = std::make_unique<Worker>(env);
    c.z0 = f32(w->keep, a.Get("z0"), "z0", c.frames * L, false);
    c.actionHistory = f32(w->keep, a.Get("actionHistory"), "actionHistory", (c.frames - 1) * A, true);
    c.actions = f32(w->keep, a.Get("actions"), "actions", N * H * A, false);
    c.goal = f32(w->keep, a.Get("goal"), "goal", L, false);
    c.cost = parseCost(w->keep, a);
    c.energies = f32(w->keep, a.Get("energies"), "energies", N, false);
    c.finalLatents = f32(w->keep, a.Get("finalLatents"), "finalLatents", N * L, true);
    c.trajectory = f32(w->keep, a.Get("trajectory"), "trajectory", N * H * L, true);
    c.proprio = f32(w->keep, a.Get("proprio"), "proprio", N * H * P, true);
    w->keep.add(Value());
    w->work = [m, c]() { m->rollout(c); };
    return Start(w.release(), nullptr);
  }

  Napi::Value PlanCem(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto m = live(env, "planCem");
    if (!info[0].IsObject()) typeError(env, "planCem(args): args must be an object");
    Napi::Object a = info[0].As<Napi::Object>();
    const long long L = spec_.latentSize(), A = spec_.actionDim;
    auto c = std::make_shared<jepa::cuda::CemCall>();
    c->frames = intField(a, "frames", 1);
    c->samples = intField(a, "samples", 0, true);
    c->horizon = intField(a, "horizon", 0, true);
    c->iterations = intField(a, "iterations", 0, true);
    c->elites = intField(a, "elites", 0, true);
    if (c->frames < 1 || c->frames > spec_.historyLength || c->horizon <= 0 || c->iterations <= 0)
      throw Napi::RangeError::New(env, "planCem: 1 <= frames <= historyLength, horizon and iterations positive");
    const long long D = c->horizon * A;
    auto w = std::make_unique<Worker>(env);
    c->z0 = f32(w->keep, a.Get("z0"), "z0", c->frames * L, false);
    c->actionHistory = f32(w->keep, a.Get("actionHistory"), "actionHistory", (c->frames - 1) * A, true);
    c->goal = f32(w->keep, a.Get("goal"), "goal", L, false);
    c->cost = parseCost(w->keep, a);
    c->initMean = f32(w->keep, a.Get("initMean"), "initMean", D, false);
    c->initStd = f32(w->keep, a.Get("initStd"), "initStd", D, false);
    c->clipLow = f32(w->keep, a.Get("clipLow"), "clipLow", A, true);
    c->clipHigh = f32(w->keep, a.Get("clipHigh"), "clipHigh", A, true);
    c->minStd = static_cast<float>(numField(a, "minStd", 1e-3));
    c->momentum = static_cast<float>(numField(a, "momentum", 0));
    c->stdMomentum = static_cast<float>(numField(a, "stdMomentum", 0.3));
    c->includeMean = boolField(a, "includeMean", true);
    const double seed = numField(a, "seed", 0);
    c->seed = static_cast<std::uint64_t>(static_cast<long long>(seed));
    c->bestActions = f32(w->keep, a.Get("bestActions"), "bestActions", D, false);
    c->finalMean = f32(w->keep, a.Get("finalMean"), "finalMean", D, false);
    c->iterationStats = f32(w->keep, a.Get("iterationStats"), "iterationStats", 2LL * c->iterations, false);
    w->keep.add(Value());
    w->work = [m, c]() { m->planCem(*c); };
    return Start(w.release(), [c](Napi::Env e) {
      Napi::Object r = Napi::Object::New(e);
      r.Set("bestEnergy", Napi::Number::New(e, c->bestEnergy));
      r.Set("usedGraph", Napi::Boolean::New(e, c->usedGraph));
      return r;
    });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    model_.reset();  // a running call keeps its own reference; memory goes when it ends
    return info.Env().Undefined();
  }
  Napi::Value Fused(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), model_ && model_->fusedMlpRollout());
  }
  Napi::Value DeviceName(const Napi::CallbackInfo& info) {
    return model_ ? Napi::String::New(info.Env(), model_->deviceName()) : info.Env().Null();
  }
};

// cudaPlanCem(model, args): the CEM plan of CudaModel.planCem as a module function.
Napi::Value CudaPlanCem(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsObject())
    typeError(env, "cudaPlanCem(model, args): model must be a CudaModel and args an object");
  Napi::Object model = info[0].As<Napi::Object>();
  Napi::Value plan = model.Get("planCem");
  if (!plan.IsFunction()) typeError(env, "cudaPlanCem: the first argument is not a CudaModel");
  return plan.As<Napi::Function>().Call(model, {info[1]});
}

// null when a device is usable, else the reason ("no CUDA device: ...").
Napi::Value CudaDeviceCheck(const Napi::CallbackInfo& info) {
  try {
    jepa::cuda::requireDevice();
    return info.Env().Null();
  } catch (const std::exception& e) {
    return Napi::String::New(info.Env(), e.what());
  }
}

// cudaPhiloxForTest([c0, c1, c2, c3], [k0, k1]) → [4 words]: the sampler's generator on the host.
Napi::Value CudaPhiloxForTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto words = [&](std::size_t arg, std::uint32_t* out, uint32_t count) {
    if (info.Length() <= arg || !info[arg].IsArray() || info[arg].As<Napi::Array>().Length() != count)
      typeError(env, "cudaPhiloxForTest(counter: 4 numbers, key: 2 numbers)");
    Napi::Array a = info[arg].As<Napi::Array>();
    for (uint32_t i = 0; i < count; ++i) {
      const double v = a.Get(i).ToNumber().DoubleValue();
      if (!(v >= 0 && v <= 4294967295.0) || v != static_cast<double>(static_cast<std::uint32_t>(v)))
        throw Napi::RangeError::New(env, "cudaPhiloxForTest: every word must be an integer in 0..2^32-1");
      out[i] = static_cast<std::uint32_t>(v);
    }
  };
  std::uint32_t ctr[4], key[2], out[4];
  words(0, ctr, 4);
  words(1, key, 2);
  jepa::cuda::philoxForTest(ctr, key, out);
  Napi::Array r = Napi::Array::New(env, 4);
  for (uint32_t i = 0; i < 4; ++i) r.Set(i, Napi::Number::New(env, out[i]));
  return r;
}

// cudaOpForTest(name, args) → Float32Array; synchronous, for the parity suite.
Napi::Value CudaOpForTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsObject()) typeError(env, "cudaOpForTest(name, args)");
  const std::string op = info[0].As<Napi::String>().Utf8Value();
  Napi::Object a = info[1].As<Napi::Object>();
  Keep keep;
  auto n = [&](const char* k) { return intField(a, k, 0, true); };
  try {
    if (op == "linear") {
      const int M = n("M"), K = n("K"), N = n("N");
      Napi::Float32Array y = Napi::Float32Array::New(env, static_cast<std::size_t>(M) * N);
      jepa::cuda::opLinear(f32(keep, a.Get("x"), "x", 1LL * M * K, false), f32(keep, a.Get("w"), "w", 1LL * N * K, false),
                           f32(keep, a.Get("b"), "b", N, true), M, K, N, parseAct(env, strField(a, "act", "none")), y.Data());
      return y;
    }
    if (op == "layernorm") {
      const int rows = n("rows"), C = n("C");
      Napi::Float32Array y = Napi::Float32Array::New(env, static_cast<std::size_t>(rows) * C);
      jepa::cuda::opLayerNorm(f32(keep, a.Get("x"), "x", 1LL * rows * C, false), f32(keep, a.Get("w"), "w", C, false),
                              f32(keep, a.Get("b"), "b", C, false), rows, C, static_cast<float>(numField(a, "eps", 1e-5)),
                              y.Data());
      return y;
    }
    if (op == "attention") {
      const int B = n("B"), T = n("T"), W = n("W"), heads = n("heads");
      Napi::Float32Array y = Napi::Float32Array::New(env, static_cast<std::size_t>(B) * T * W);
      jepa::cuda::opAttention(f32(keep, a.Get("qkv"), "qkv", 3LL * B * T * W, false), B, T, W, heads,
                              intField(a, "tokensPerFrame", 0), y.Data());
      return y;
    }
    if (op == "groupnorm") {
      const int B = n("B"), C = n("C"), HW = n("HW"), G = n("groups");
      Napi::Float32Array y = Napi::Float32Array::New(env, static_cast<std::size_t>(B) * C * HW);
      jepa::cuda::opGroupNorm(f32(keep, a.Get("x"), "x", 1LL * B * C * HW, false), f32(keep, a.Get("w"), "w", C, false),
                              f32(keep, a.Get("b"), "b", C, false), B, C, HW, G, parseAct(env, strField(a, "act", "none")),
                              y.Data());
      return y;
    }
    if (op == "conv2d") {
      const int B = n("B"), C = n("C"), H = n("H"), W = n("W"), O = n("O"), k = n("k");
      const int stride = intField(a, "stride", 1), pad = intField(a, "pad", 0);
      if (stride <= 0 || pad < 0 || H + 2 * pad < k || W + 2 * pad < k)
        throw Napi::RangeError::New(env, "conv2d: the kernel must fit the padded input, stride > 0");
      const int OH = (H + 2 * pad - k) / stride + 1, OW = (W + 2 * pad - k) / stride + 1;
      Napi::Float32Array y = Napi::Float32Array::New(env, static_cast<std::size_t>(B) * O * OH * OW);
      jepa::cuda::opConv2d(f32(keep, a.Get("x"), "x", 1LL * B * C * H * W, false),
                           f32(keep, a.Get("w"), "w", 1LL * O * C * k * k, false), f32(keep, a.Get("b"), "b", O, true), B,
                           C, H, W, O, k, stride, pad, y.Data());
      return y;
    }
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw toJsError(env, e);
  }
  throw Napi::Error::New(env, "cudaOpForTest: unknown op '" + op + "' (linear, layernorm, attention, groupnorm, conv2d)");
}

// A new Float32Array of `count` elements, starting as a copy of args[key] when given (accumulated outputs).
Napi::Float32Array gradOut(Keep& keep, const Napi::Object& a, const char* key, std::size_t count) {
  Napi::Float32Array out = Napi::Float32Array::New(a.Env(), count);
  const float* init = f32(keep, a.Get(key), key, static_cast<long long>(count), true);
  if (init) std::copy(init, init + count, out.Data());
  return out;
}

// cudaGradForTest(name, args) → {outputs}: the training kernels, synchronous, for the parity suite.
Napi::Value CudaGradForTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsObject()) typeError(env, "cudaGradForTest(name, args)");
  const std::string op = info[0].As<Napi::String>().Utf8Value();
  Napi::Object a = info[1].As<Napi::Object>();
  Keep keep;
  auto n = [&](const char* k) { return intField(a, k, 0, true); };
  Napi::Object r = Napi::Object::New(env);
  try {
    if (op == "linear") {
      const int rows = n("rows"), in = n("in"), out = n("out");
      Napi::Float32Array dX = Napi::Float32Array::New(env, static_cast<std::size_t>(rows) * in);
      Napi::Float32Array dW = gradOut(keep, a, "dW", static_cast<std::size_t>(out) * in);
      Napi::Float32Array db = gradOut(keep, a, "db", out);
      jepa::cuda::opLinearBackward(f32(keep, a.Get("x"), "x", 1LL * rows * in, false), f32(keep, a.Get("w"), "w", 1LL * out * in, false),
                                   f32(keep, a.Get("dY"), "dY", 1LL * rows * out, false), rows, in, out, dX.Data(), dW.Data(), db.Data());
      r.Set("dX", dX);
      r.Set("dW", dW);
      r.Set("db", db);
      return r;
    }
    if (op == "layernorm") {
      const int rows = n("rows"), C = n("C");
      Napi::Float32Array dX = Napi::Float32Array::New(env, static_cast<std::size_t>(rows) * C);
      Napi::Float32Array dw = gradOut(keep, a, "dw", C);
      Napi::Float32Array db = gradOut(keep, a, "db", C);
      jepa::cuda::opLayerNormBackward(f32(keep, a.Get("x"), "x", 1LL * rows * C, false), f32(keep, a.Get("w"), "w", C, false),
                                      f32(keep, a.Get("dY"), "dY", 1LL * rows * C, false), rows, C,
                                      static_cast<float>(numField(a, "eps", 1e-5)), dX.Data(), dw.Data(), db.Data());
      r.Set("dX", dX);
      r.Set("dw", dw);
      r.Set("db", db);
      return r;
    }
    if (op == "activation") {
      const long long count = n("n");
      Napi::Float32Array dX = Napi::Float32Array::New(env, static_cast<std::size_t>(count));
      jepa::cuda::opActivationBackward(f32(keep, a.Get("x"), "x", count, false), f32(keep, a.Get("dY"), "dY", count, false), count,
                                       parseAct(env, strField(a, "act", "gelu")), dX.Data());
      r.Set("dX", dX);
      return r;
    }
    if (op == "attention") {
      const int B = n("B"), T = n("T"), W = n("W"), heads = n("heads");
      Napi::Float32Array d = Napi::Float32Array::New(env, static_cast<std::size_t>(B) * T * 3 * W);
      jepa::cuda::opAttentionBackward(f32(keep, a.Get("qkv"), "qkv", 3LL * B * T * W, false),
                                      f32(keep, a.Get("dout"), "dout", 1LL * B * T * W, false), B, T, W, heads,
                                      intField(a, "tokensPerFrame", 0), d.Data());
      r.Set("dqkv", d);
      return r;
    }
    if (op == "conv2d") {
      const int B = n("B"), C = n("C"), H = n("H"), W = n("W"), O = n("O"), k = n("k");
      const int stride = intField(a, "stride", 1), pad = intField(a, "pad", 0);
      if (stride <= 0 || pad < 0 || H + 2 * pad < k || W + 2 * pad < k)
        throw Napi::RangeError::New(env, "conv2d: the kernel must fit the padded input, stride > 0");
      const int OH = (H + 2 * pad - k) / stride + 1, OW = (W + 2 * pad - k) / stride + 1;
      Napi::Float32Array dX = Napi::Float32Array::New(env, static_cast<std::size_t>(B) * C * H * W);
      Napi::Float32Array dW = gradOut(keep, a, "dW", static_cast<std::size_t>(O) * C * k * k);
      Napi::Float32Array db = gradOut(keep, a, "db", O);
      jepa::cuda::opConv2dBackward(f32(keep, a.Get("x"), "x", 1LL * B * C * H * W, false),
                                   f32(keep, a.Get("w"), "w", 1LL * O * C * k * k, false),
                                   f32(keep, a.Get("dY"), "dY", 1LL * B * O * OH * OW, false), B, C, H, W, O, k, stride, pad,
                                   dX.Data(), dW.Data(), db.Data());
      r.Set("dX", dX);
      r.Set("dW", dW);
      r.Set("db", db);
      return r;
    }
    if (op == "adamw") {
      Napi::Value pv = a.Get("param");
      if (!pv.IsTypedArray()) typeError(env, "adamw: param must be a Float32Array");
      const std::size_t count = pv.As<Napi::TypedArray>().ElementLength();
      Napi::Float32Array param = gradOut(keep, a, "param", count);
      Napi::Float32Array m = gradOut(keep, a, "m", count);
      Napi::Float32Array v = gradOut(keep, a, "v", count);
      jepa::cuda::opAdamW(param.Data(), f32(keep, a.Get("grad"), "grad", static_cast<long long>(count), false), m.Data(), v.Data(),
                          static_cast<long long>(count), static_cast<float>(numField(a, "lr", 1e-3)),
                          static_cast<float>(numField(a, "beta1", 0.9)), static_cast<float>(numField(a, "beta2", 0.999)),
                          static_cast<float>(numField(a, "eps", 1e-8)), static_cast<float>(numField(a, "weightDecay", 0)),
                          intField(a, "step", 1));
      r.Set("param", param);
      r.Set("m", m);
      r.Set("v", v);
      return r;
    }
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw toJsError(env, e);
  }
  throw Napi::Error::New(env, "cudaGradForTest: unknown op '" + op + "' (linear, layernorm, activation, attention, conv2d, adamw)");
}

}  // namespace

void InitCuda(Napi::Env env, Napi::Object exports) {
  exports.Set("CudaModel", CudaModel::Define(env));
  exports.Set("cudaDeviceCheck", Napi::Function::New(env, CudaDeviceCheck, "cudaDeviceCheck"));
  exports.Set("cudaPlanCem", Napi::Function::New(env, CudaPlanCem, "cudaPlanCem"));
  exports.Set("cudaOpForTest", Napi::Function::New(env, CudaOpForTest, "cudaOpForTest"));
  exports.Set("cudaGradForTest", Napi::Function::New(env, CudaGradForTest, "cudaGradForTest"));
  exports.Set("cudaPhiloxForTest", Napi::Function::New(env, CudaPhiloxForTest, "cudaPhiloxForTest"));
}

#endif  // JEPA_WITH_CUDA
