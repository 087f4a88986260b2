// The Node-API surface, split by owner: each Init* registers its functions on
// the module's exports. addon.cc is the single module entry and calls them all.
// Build flags every binding file shares: NAPI_VERSION=8, NAPI_CPP_EXCEPTIONS.
#pragma once

#include <napi.h>

#include <exception>

// safetensors_binding.cc: inspectSafetensors, readSafetensorsTensor, loadWeights.
void InitSafetensors(Napi::Env env, Napi::Object exports);

// model_binding.cc (the model/rollout binding). Declared weak so the addon
// links and loads while that file is absent; addon.cc calls it when it is
// defined, and buildInfo().modelBinding says whether it was.
__attribute__((weak)) void InitModel(Napi::Env env, Napi::Object exports);

// cuda_binding.cc (CUDA builds only): CudaModel, cudaDeviceCheck, cudaOpForTest.
void InitCuda(Napi::Env env, Napi::Object exports);

// train_binding.cc (training kernels: backward ops, AdamW). Weak like InitModel.
__attribute__((weak)) void InitTrain(Napi::Env env, Napi::Object exports);

namespace jepa::napi {

// Turns a C++ exception into a JS Error. A jepa::SafetensorsError becomes an
// Error whose name is 'SafetensorsError' with `file` and `tensor` properties;
// anything else becomes a plain Error with the exception's message.
Napi::Error ErrorFromException(Napi::Env env, const std::exception& e);

}  // namespace jepa::napi
