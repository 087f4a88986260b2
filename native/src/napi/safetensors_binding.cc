// Node-API binding of the safetensors reader: inspectSafetensors and
// readSafetensorsTensor (synchronous: header-sized or single-tensor work) and
// loadWeights (an AsyncWorker: the whole checkpoint is read and converted off
// the event loop into one native arena that the returned Float32Arrays view
// without copying).
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "core/safetensors.h"
#include "napi/bindings.h"

namespace jepa::napi {

Napi::Error ErrorFromException(Napi::Env env, const std::exception& e) {
  if (const auto* se = dynamic_cast<const SafetensorsError*>(&e)) {
    Napi::Error err = Napi::Error::New(env, se->what());
    err.Value().Set("name", Napi::String::New(env, "SafetensorsError"));
    err.Value().Set("file", Napi::String::New(env, se->file()));
    err.Value().Set("tensor", se->tensor().empty() ? env.Null() : Napi::String::New(env, se->tensor()));
    err.Value().Set("detail", Napi::String::New(env, se->detail()));
    return err;
  }
  if (dynamic_cast<const std::bad_alloc*>(&e)) return Napi::Error::New(env, "out of memory");
  return Napi::Error::New(env, e.what());
}

}  // namespace jepa::napi

namespace {

using jepa::napi::ErrorFromException;

constexpr double kMaxSafeInteger = 9007199254740991.0;

std::string requirePath(const Napi::CallbackInfo& info, std::size_t index, const char* fn) {
  if (info.Length() <= index || !info[index].IsString()) {
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": argument " + std::to_string(index + 1) +
                                               " must be a string (a file path)");
  }
  return info[index].As<Napi::String>().Utf8Value();
}

Napi::Array shapeToJs(Napi::Env env, const std::vector<std::uint64_t>& shape) {
  Napi::Array a = Napi::Array::New(env, shape.size());
  for (std::size_t i = 0; i < shape.size(); ++i) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(shape[i])));
  return a;
}

Napi::Value InspectSafetensors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = requirePath(info, 0, "inspectSafetensors");
  try {
    jepa::SafetensorsFile f = jepa::SafetensorsFile::open(path);
    const jepa::SafetensorsHeader& h = f.header();
    Napi::Object out = Napi::Object::New(env);
    Napi::Object metadata = Napi::Object::New(env);
    for (const auto& [k, v] : h.metadata) metadata.Set(k, v);
    Napi::Array tensors = Napi::Array::New(env, h.tensors.size());
    for (std::size_t i = 0; i < h.tensors.size(); ++i) {
      const jepa::TensorInfo& t = h.tensors[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", t.name);
      o.Set("dtype", jepa::dtypeName(t.dtype));
      o.Set("shape", shapeToJs(env, t.shape));
      o.Set("byteOffset", Napi::Number::New(env, static_cast<double>(t.byteOffset)));
      o.Set("byteLength", Napi::Number::New(env, static_cast<double>(t.byteLength)));
      tensors.Set(static_cast<uint32_t>(i), o);
    }
    out.Set("metadata", metadata);
    out.Set("tensors", tensors);
    out.Set("headerLength", Napi::Number::New(env, static_cast<double>(h.headerLength)));
    out.Set("fileSize", Napi::Number::New(env, static_cast<double>(h.fileSize)));
    return out;
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw ErrorFromException(env, e);
  }
}

Napi::Value ReadSafetensorsTensor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = requirePath(info, 0, "readSafetensorsTensor");
  if (info.Length() < 2 || !info[1].IsString()) {
    throw Napi::TypeError::New(env, "readSafetensorsTensor: argument 2 must be a string (a tensor name)");
  }
  std::string name = info[1].As<Napi::String>().Utf8Value();
  try {
    jepa::SafetensorsFile f = jepa::SafetensorsFile::open(path);
    const jepa::TensorInfo& t = f.tensor(name);
    if (!jepa::dtypeIsFloat(t.dtype)) jepa::convertToFloat32(t.dtype, nullptr, 0, nullptr, path, name);  // throws
    if (static_cast<double>(t.elementCount) * 4.0 > kMaxSafeInteger) {
      throw jepa::SafetensorsError(path, name, "is too large for one Float32Array");
    }
    // Read straight into the JS-owned buffer: no intermediate copy.
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, static_cast<std::size_t>(t.elementCount) * sizeof(float));
    f.readFloat32(t, static_cast<float*>(ab.Data()));
    return Napi::Float32Array::New(env, static_cast<std::size_t>(t.elementCount), ab, 0);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw ErrorFromException(env, e);
  }
}

std::vector<jepa::ExpectedTensor> parseExpectedSpecs(Napi::Env env, Napi::Value value) {
  if (!value.IsArray()) {
    throw Napi::TypeError::New(env, "loadWeights: argument 2 must be an array of {name: string, shape: number[]}");
  }
  Napi::Array arr = value.As<Napi::Array>();
  std::vector<jepa::ExpectedTensor> specs;
  specs.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value item = arr.Get(i);
    std::string where = "loadWeights: expected[" + std::to_string(i) + "]";
    if (!item.IsObject()) throw Napi::TypeError::New(env, where + " must be an object {name, shape}");
    Napi::Object o = item.As<Napi::Object>();
    Napi::Value name = o.Get("name");
    if (!name.IsString()) throw Napi::TypeError::New(env, where + ".name must be a string");
    Napi::Value shape = o.Get("shape");
    if (!shape.IsArray()) throw Napi::TypeError::New(env, where + ".shape must be an array of non-negative integers");
    jepa::ExpectedTensor spec;
    spec.name = name.As<Napi::String>().Utf8Value();
    Napi::Array dims = shape.As<Napi::Array>();
    for (uint32_t k = 0; k < dims.Length(); ++k) {
      Napi::Value d = dims.Get(k);
      double v = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1.0;
      if (!(v >= 0.0 && v <= kMaxSafeInteger && std::floor(v) == v)) {
        throw Napi::TypeError::New(env, where + ".shape[" + std::to_string(k) + "] must be a non-negative integer");
      }
      spec.shape.push_back(static_cast<std::uint64_t>(v));
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}

class LoadWeightsWorker : public Napi::AsyncWorker {
 public:
  LoadWeightsWorker(Napi::Env env, std::string path, std::vector<jepa::ExpectedTensor> expected)
      : Napi::AsyncWorker(env, "jepa.loadWeights"),
        deferred_(Napi::Promise::Deferred::New(env)),
        path_(std::move(path)),
        expected_(std::move(expected)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      arena_ = jepa::loadWeights(path_, expected_);
    } catch (const jepa::SafetensorsError& e) {
      error_ = std::make_unique<jepa::SafetensorsError>(e);
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      SetError("loadWeights: out of memory reading " + path_);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    const std::size_t bytes = static_cast<std::size_t>(arena_.floatCount) * sizeof(float);
    float* data = arena_.data.release();
    // The ArrayBuffer takes ownership of the arena; its finalizer frees it.
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, data, bytes, [](Napi::Env, void* p) { std::free(p); });
    Napi::Object out = Napi::Object::New(env);
    for (const jepa::WeightArena::Entry& e : arena_.entries) {
      out.Set(e.name, Napi::Float32Array::New(env, static_cast<std::size_t>(e.count), ab,
                                              static_cast<std::size_t>(e.offset) * sizeof(float)));
    }
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& e) override {
    if (error_) {
      deferred_.Reject(ErrorFromException(Env(), *error_).Value());
    } else {
      deferred_.Reject(e.Value());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  std::vector<jepa::ExpectedTensor> expected_;
  jepa::WeightArena arena_;
  std::unique_ptr<jepa::SafetensorsError> error_;
};

Napi::Value LoadWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = requirePath(info, 0, "loadWeights");
  std::vector<jepa::ExpectedTensor> expected = parseExpectedSpecs(env, info.Length() > 1 ? info[1] : env.Undefined());
  auto* worker = new LoadWeightsWorker(env, std::move(path), std::move(expected));
  Napi::Promise promise = worker->Promise();
  worker->Queue();  // the worker deletes itself after OnOK/OnError
  return promise;
}

}  // namespace

void InitSafetensors(Napi::Env env, Napi::Object exports) {
  exports.Set("inspectSafetensors", Napi::Function::New(env, InspectSafetensors, "inspectSafetensors"));
  exports.Set("readSafetensorsTensor", Napi::Function::New(env, ReadSafetensorsTensor, "readSafetensorsTensor"));
  exports.Set("loadWeights", Napi::Function::New(env, LoadWeights, "loadWeights"));
}
