// Safetensors reader: owns parsing and validating a .safetensors file (header
// length, strict JSON header, tensor table, data layout) and reading tensors
// converted to float32, including the checked load of a whole checkpoint into
// one contiguous float32 arena. Every failure is a SafetensorsError naming the
// file, the tensor (when there is one) and the rule that was broken.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace jepa {

// The largest header accepted, checked before anything is allocated for it.
constexpr std::uint64_t kSafetensorsMaxHeaderBytes = 100ull * 1000ull * 1000ull;

class SafetensorsError : public std::runtime_error {
 public:
  // file: path as given; tensor: "" when the problem is not about one tensor.
  SafetensorsError(std::string file, std::string tensor, std::string detail);
  const std::string& file() const noexcept { return file_; }
  const std::string& tensor() const noexcept { return tensor_; }
  // The message without the file/tensor prefix.
  const std::string& detail() const noexcept { return detail_; }

 private:
  std::string file_;
  std::string tensor_;
  std::string detail_;
};

enum class DType : std::uint8_t {
  F64, F32, F16, BF16, F8_E4M3, F8_E5M2,
  I64, I32, I16, I8, U64, U32, U16, U8, BOOL,
};

const char* dtypeName(DType dtype) noexcept;
std::size_t dtypeSize(DType dtype) noexcept;
// True for the dtypes readFloat32 converts (F64, F32, F16, BF16, F8_E4M3, F8_E5M2).
bool dtypeIsFloat(DType dtype) noexcept;
// Parses a dtype name as written in a header; false when unknown.
bool parseDType(const std::string& name, DType* out) noexcept;

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<std::uint64_t> shape;
  // Absolute position of the tensor's bytes in the file (8 + header length + data_offsets[0]).
  std::uint64_t byteOffset;
  std::uint64_t byteLength;
  std::uint64_t elementCount;
};

struct SafetensorsHeader {
  std::string file;
  std::uint64_t fileSize = 0;
  std::uint64_t headerLength = 0;
  // Where the data buffer starts: 8 + headerLength.
  std::uint64_t dataStart = 0;
  // "__metadata__" entries in the order they appear.
  std::vector<std::pair<std::string, std::string>> metadata;
  // Tensors in the order of their data offsets.
  std::vector<TensorInfo> tensors;
};

// Validates a header's JSON text against the format rules and the file's size.
// Exposed on its own so the rules can be exercised without files.
SafetensorsHeader parseSafetensorsHeader(const std::string& file, const char* json, std::size_t jsonLength,
                                         std::uint64_t fileSize);

// Converts `count` elements of `dtype` stored little-endian at `src` to float32.
// Throws SafetensorsError (file/tensor as given) for non-float dtypes.
void convertToFloat32(DType dtype, const std::uint8_t* src, std::uint64_t count, float* dst,
                      const std::string& file, const std::string& tensor);

// An open safetensors file. The header is read and validated by open(); tensor
// bytes are read on demand with positioned reads, so a file that is replaced
// or truncated later produces an error instead of a fault.
class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::string& path);
  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  ~SafetensorsFile();

  const SafetensorsHeader& header() const noexcept { return header_; }
  const std::string& path() const noexcept { return header_.file; }
  // nullptr when absent.
  const TensorInfo* find(const std::string& name) const noexcept;
  // Throws SafetensorsError naming the tensor when absent.
  const TensorInfo& tensor(const std::string& name) const;

  // Reads the tensor's raw bytes into dst (tensor.byteLength bytes).
  void readRaw(const TensorInfo& tensor, void* dst) const;
  // Reads the tensor converted to float32 into dst (tensor.elementCount floats).
  void readFloat32(const TensorInfo& tensor, float* dst) const;
  std::vector<float> readFloat32(const std::string& name) const;

 private:
  SafetensorsFile(int fd, SafetensorsHeader header) : fd_(fd), header_(std::move(header)) {}
  void readAt(std::uint64_t offset, void* dst, std::uint64_t length, const std::string& tensor) const;
  int fd_ = -1;
  SafetensorsHeader header_;
};

struct ExpectedTensor {
  std::string name;
  std::vector<std::uint64_t> shape;
};

// float32 memory owned by a WeightArena; released with std::free.
struct FreeDeleter {
  void operator()(float* p) const noexcept;
};

struct WeightArena {
  struct Entry {
    std::string name;
    std::vector<std::uint64_t> shape;
    // In floats from the start of the arena; every entry starts 64-byte aligned.
    std::uint64_t offset;
    std::uint64_t count;
  };
  std::unique_ptr<float[], FreeDeleter> data;
  std::uint64_t floatCount = 0;
  std::vector<Entry> entries;  // in the order of `expected`
};

// Checks that every expected tensor exists with exactly the expected shape
// (extra tensors in the file are ignored) and returns them as float32 in one
// contiguous arena. All missing tensors and shape mismatches are reported in
// one error.
WeightArena loadWeights(const std::string& path, const std::vector<ExpectedTensor>& expected);

std::string formatShape(const std::vector<std::uint64_t>& shape);

}  // namespace jepa
