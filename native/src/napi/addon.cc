// The addon's single module entry: registers every binding (safetensors, the
// model when its binding is compiled in) and reports how the binary was built
// (buildInfo) and what CUDA sees (cudaInfo).
#include <napi.h>

#include <string>

#include "napi/bindings.h"

#ifdef JEPA_WITH_CUDA
#include "cuda/device_info.h"
#endif

#ifndef JEPA_VERSION
#error "JEPA_VERSION must be defined by the build (package.json version)"
#endif
#ifndef JEPA_BUILD_SYSTEM
#error "JEPA_BUILD_SYSTEM must be defined by the build (cmake-js or node-gyp)"
#endif
// Comma-separated ISA variants that had sources compiled with their flags.
#ifndef JEPA_ISA_VARIANTS
#define JEPA_ISA_VARIANTS ""
#endif

namespace {

std::string compilerName() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("gcc ") + __VERSION__;
#elif defined(_MSC_VER)
  return "msvc " + std::to_string(_MSC_VER);
#else
  return "unknown";
#endif
}

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("version", JEPA_VERSION);
  out.Set("buildSystem", JEPA_BUILD_SYSTEM);
  out.Set("compiler", compilerName());
  out.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
#ifdef NDEBUG
  out.Set("buildType", "Release");
#else
  out.Set("buildType", "Debug");
#endif
  Napi::Array isa = Napi::Array::New(env);
  std::string variants = JEPA_ISA_VARIANTS;
  std::size_t start = 0;
  uint32_t n = 0;
  while (start < variants.size()) {
    std::size_t end = variants.find(',', start);
    if (end == std::string::npos) end = variants.size();
    if (end > start) isa.Set(n++, variants.substr(start, end - start));
    start = end + 1;
  }
  out.Set("isa", isa);
#ifdef JEPA_WITH_CUDA
  out.Set("cuda", true);
#else
  out.Set("cuda", false);
#endif
  out.Set("modelBinding", InitModel != nullptr);
  return out;
}

Napi::Value CudaInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  Napi::Array devices = Napi::Array::New(env);
#ifdef JEPA_WITH_CUDA
  jepa::cuda::DeviceInfo d = jepa::cuda::deviceInfo();
  out.Set("compiled", true);
  out.Set("runtimeVersion", d.runtimeVersion);
  out.Set("driverVersion", d.driverVersion);
  for (std::size_t i = 0; i < d.devices.size(); ++i) {
    const jepa::cuda::DeviceProperties& p = d.devices[i];
    Napi::Object dev = Napi::Object::New(env);
    dev.Set("index", p.index);
    dev.Set("name", p.name);
    dev.Set("computeCapability", std::to_string(p.computeMajor) + "." + std::to_string(p.computeMinor));
    dev.Set("totalMemory_bytes", Napi::Number::New(env, static_cast<double>(p.totalMemory_bytes)));
    dev.Set("multiprocessorCount", p.multiprocessorCount);
    devices.Set(static_cast<uint32_t>(i), dev);
  }
  if (!d.error.empty()) out.Set("error", d.error);
#else
  out.Set("compiled", false);
  out.Set("error", "this addon was built without CUDA (nvcc was not found or JEPA_CUDA=OFF)");
#endif
  out.Set("devices", devices);
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo, "buildInfo"));
  exports.Set("cudaInfo", Napi::Function::New(env, CudaInfo, "cudaInfo"));
  InitSafetensors(env, exports);
  if (InitModel != nullptr) InitModel(env, exports);
  if (InitTrain != nullptr) InitTrain(env, exports);
#ifdef JEPA_WITH_CUDA
  InitCuda(env, exports);
#endif
  return exports;
}

}  // namespace

NODE_API_MODULE(jepa_native, Init)
