// Safetensors reader: header validation (a strict JSON parser of our own, the
// format's layout rules with checked arithmetic), positioned reads of tensor
// bytes and conversion to float32. See safetensors.h for the API.
#include "core/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace jepa {

namespace {

std::string composeMessage(const std::string& file, const std::string& tensor, const std::string& detail) {
  std::string m = file;
  if (!tensor.empty()) m += ": tensor '" + tensor + "'";
  m += ": " + detail;
  return m;
}

// ---------------------------------------------------------------------------
// Strict JSON (RFC 8259) with duplicate keys refused and a depth limit.

struct JsonValue {
  enum class Kind { Null, Bool, Number, String, Array, Object } kind = Kind::Null;
  bool boolean = false;
  std::string text;  // String: decoded UTF-8; Number: the literal as written
  bool numberIsInteger = false;   // no fraction, no exponent
  bool numberIsNegative = false;
  std::vector<JsonValue> items;                              // Array
  std::vector<std::pair<std::string, JsonValue>> members;    // Object, in order
  std::size_t offset = 0;                                    // byte position in the header
};

constexpr int kMaxJsonDepth = 64;

class JsonParser {
 public:
  JsonParser(const std::string& file, const char* s, std::size_t n) : file_(file), s_(s), n_(n) {}

  JsonValue parseDocument() {
    skipWs();
    JsonValue v = parseValue(0);
    skipWs();
    if (pos_ != n_) fail("unexpected data after the header's JSON object");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw SafetensorsError(file_, "", "header is not valid JSON at byte " + std::to_string(pos_) + ": " + what);
  }

  void skipWs() {
    while (pos_ < n_ && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }

  bool consumeLiteral(const char* lit) {
    std::size_t len = std::strlen(lit);
    if (n_ - pos_ >= len && std::memcmp(s_ + pos_, lit, len) == 0) {
      pos_ += len;
      return true;
    }
    return false;
  }

  JsonValue parseValue(int depth) {
    if (depth > kMaxJsonDepth) fail("nesting deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    if (pos_ >= n_) fail("unexpected end of header");
    JsonValue v;
    v.offset = pos_;
    char c = s_[pos_];
    if (c == '{') {
      parseObject(v, depth);
    } else if (c == '[') {
      parseArray(v, depth);
    } else if (c == '"') {
      v.kind = JsonValue::Kind::String;
      v.text = parseString();
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      parseNumber(v);
    } else if (consumeLiteral("true")) {
      v.kind = JsonValue::Kind::Bool;
      v.boolean = true;
    } else if (consumeLiteral("false")) {
      v.kind = JsonValue::Kind::Bool;
    } else if (consumeLiteral("null")) {
      v.kind = JsonValue::Kind::Null;
    } else {
      fail(std::string("unexpected character '") + printable(c) + "'");
    }
    return v;
  }

  static std::string printable(char c) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) return std::string(1, c);
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02x", u);
    return buf;
  }

  void parseObject(JsonValue& v, int depth) {
    v.kind = JsonValue::Kind::Object;
    ++pos_;  // '{'
    skipWs();
    if (pos_ < n_ && s_[pos_] == '}') {
      ++pos_;
      return;
    }
    std::unordered_set<std::string> seen;
    for (;;) {
      skipWs();
      if (pos_ >= n_ || s_[pos_] != '"') fail("expected a string key");
      std::size_t keyOffset = pos_;
      std::string key = parseString();
      if (!seen.insert(key).second) {
        pos_ = keyOffset;
        if (depth == 0) {
          throw SafetensorsError(file_, key, "is listed twice in the header (duplicate tensor names are not allowed)");
        }
        fail("duplicate key \"" + key + "\"");
      }
      skipWs();
      if (pos_ >= n_ || s_[pos_] != ':') fail("expected ':' after a key");
      ++pos_;
      skipWs();
      JsonValue member = parseValue(depth + 1);
      v.members.emplace_back(std::move(key), std::move(member));
      skipWs();
      if (pos_ >= n_) fail("unexpected end of header inside an object");
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == '}') {
        ++pos_;
        return;
      }
      fail("expected ',' or '}' in an object");
    }
  }

  void parseArray(JsonValue& v, int depth) {
    v.kind = JsonValue::Kind::Array;
    ++pos_;  // '['
    skipWs();
    if (pos_ < n_ && s_[pos_] == ']') {
      ++pos_;
      return;
    }
    for (;;) {
      skipWs();
      v.items.push_back(parseValue(depth + 1));
      skipWs();
      if (pos_ >= n_) fail("unexpected end of header inside an array");
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == ']') {
        ++pos_;
        return;
      }
      fail("expected ',' or ']' in an array");
    }
  }

  static void appendUtf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  std::uint32_t parseHex4() {
    if (n_ - pos_ < 4) fail("truncated \\u escape");
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<std::uint32_t>(c - 'A' + 10);
      else fail("invalid hex digit in \\u escape");
    }
    return v;
  }

  // The header was checked to be valid UTF-8 before parsing, so multi-byte
  // sequences are copied through unchanged.
  std::string parseString() {
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      if (pos_ >= n_) fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) fail("unescaped control character in a string");
      if (c != '\\') {
        out.push_back(static_cast<char>(c));
        ++pos_;
        continue;
      }
      ++pos_;
      if (pos_ >= n_) fail("unterminated escape");
      char e = s_[pos_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          std::uint32_t cp = parseHex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (!(n_ - pos_ >= 2 && s_[pos_] == '\\' && s_[pos_ + 1] == 'u')) fail("unpaired surrogate in \\u escape");
            pos_ += 2;
            std::uint32_t lo = parseHex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail("unpaired surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail("unpaired surrogate in \\u escape");
          }
          appendUtf8(out, cp);
          break;
        }
        default:
          --pos_;
          fail(std::string("invalid escape '\\") + printable(e) + "'");
      }
    }
  }

  void parseNumber(JsonValue& v) {
    v.kind = JsonValue::Kind::Number;
    std::size_t start = pos_;
    bool integer = true;
    if (s_[pos_] == '-') {
      v.numberIsNegative = true;
      ++pos_;
    }
    if (pos_ >= n_ || !(s_[pos_] >= '0' && s_[pos_] <= '9')) fail("a number needs digits");
    if (s_[pos_] == '0') {
      ++pos_;
      if (pos_ < n_ && s_[pos_] >= '0' && s_[pos_] <= '9') fail("numbers may not have leading zeros");
    } else {
      while (pos_ < n_ && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    }
    if (pos_ < n_ && s_[pos_] == '.') {
      integer = false;
      ++pos_;
      if (pos_ >= n_ || !(s_[pos_] >= '0' && s_[pos_] <= '9')) fail("a fraction needs digits");
      while (pos_ < n_ && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    }
    if (pos_ < n_ && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      integer = false;
      ++pos_;
      if (pos_ < n_ && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (pos_ >= n_ || !(s_[pos_] >= '0' && s_[pos_] <= '9')) fail("an exponent needs digits");
      while (pos_ < n_ && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    }
    v.numberIsInteger = integer;
    v.text.assign(s_ + start, pos_ - start);
  }

  const std::string& file_;
  const char* s_;
  std::size_t n_;
  std::size_t pos_ = 0;
};

// Returns the byte offset of the first invalid UTF-8 sequence, or n when valid.
std::size_t firstInvalidUtf8(const unsigned char* s, std::size_t n) {
  std::size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (n - i < len) return i;
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return i;  // overlong, out of range or a surrogate
    }
    i += len;
  }
  return n;
}

// A JSON number that must be a non-negative integer fitting 64 bits.
bool jsonToU64(const JsonValue& v, std::uint64_t* out) {
  if (v.kind != JsonValue::Kind::Number || !v.numberIsInteger || v.numberIsNegative) return false;
  std::uint64_t r = 0;
  for (char c : v.text) {
    std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (r > (UINT64_MAX - d) / 10) return false;
    r = r * 10 + d;
  }
  *out = r;
  return true;
}

std::string describeNumberProblem(const JsonValue& v) {
  if (v.kind != JsonValue::Kind::Number) return "is not a number";
  if (v.numberIsNegative) return v.text + " is negative";
  if (!v.numberIsInteger) return v.text + " is not an integer";
  return v.text + " does not fit in 64 bits";
}

bool mulOverflows(std::uint64_t a, std::uint64_t b, std::uint64_t* out) {
  return __builtin_mul_overflow(a, b, out);
}

bool addOverflows(std::uint64_t a, std::uint64_t b, std::uint64_t* out) {
  return __builtin_add_overflow(a, b, out);
}

// ---------------------------------------------------------------------------
// float conversions, exact for every input bit pattern.

inline float bitsToFloat(std::uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline float halfToFloat(std::uint16_t h) {
  std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1Fu;
  std::uint32_t man = h & 0x3FFu;
  if (exp == 0x1F) return bitsToFloat(sign | 0x7F800000u | (man << 13));  // inf / NaN (payload kept)
  if (exp != 0) return bitsToFloat(sign | ((exp + 112u) << 23) | (man << 13));
  if (man == 0) return bitsToFloat(sign);
  // Subnormal: value = man * 2^-24, exactly representable in float32.
  float v = static_cast<float>(man) * bitsToFloat(0x33800000u);  // 2^-24
  return sign ? -v : v;
}

inline float bf16ToFloat(std::uint16_t b) { return bitsToFloat(static_cast<std::uint32_t>(b) << 16); }

// OCP FP8 E4M3 ("FN" variant: no infinities, S.1111.111 is NaN).
inline float e4m3ToFloat(std::uint8_t b) {
  bool neg = (b & 0x80) != 0;
  std::uint32_t exp = (b >> 3) & 0xF;
  std::uint32_t man = b & 0x7;
  float v;
  if (exp == 0xF && man == 0x7) {
    v = bitsToFloat(0x7FC00000u);
  } else if (exp == 0) {
    v = static_cast<float>(man) * bitsToFloat(0x3B000000u);  // man * 2^-9
  } else {
    v = bitsToFloat(((exp + 120u) << 23) | (man << 20));
  }
  return neg ? -v : v;
}

// OCP FP8 E5M2: the top byte of an IEEE half.
inline float e5m2ToFloat(std::uint8_t b) { return halfToFloat(static_cast<std::uint16_t>(b) << 8); }

void preadFully(int fd, const std::string& file, const std::string& tensor, std::uint64_t offset, void* dst,
                std::uint64_t length) {
  auto* out = static_cast<unsigned char*>(dst);
  std::uint64_t done = 0;
  while (done < length) {
    std::uint64_t chunk = std::min<std::uint64_t>(length - done, 1ull << 30);
    ssize_t r = ::pread(fd, out + done, static_cast<std::size_t>(chunk), static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      throw SafetensorsError(file, tensor, std::string("read failed: ") + std::strerror(err));
    }
    if (r == 0) {
      throw SafetensorsError(file, tensor, "file ended at byte " + std::to_string(offset + done) +
                                               " while reading (was it truncated after it was opened?)");
    }
    done += static_cast<std::uint64_t>(r);
  }
}

bool hostIsLittleEndian() {
  const std::uint16_t probe = 1;
  unsigned char first;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}

}  // namespace

// ---------------------------------------------------------------------------

SafetensorsError::SafetensorsError(std::string file, std::string tensor, std::string detail)
    : std::runtime_error(composeMessage(file, tensor, detail)),
      file_(std::move(file)),
      tensor_(std::move(tensor)),
      detail_(std::move(detail)) {}

const char* dtypeName(DType d) noexcept {
  switch (d) {
    case DType::F64: return "F64";
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::F8_E4M3: return "F8_E4M3";
    case DType::F8_E5M2: return "F8_E5M2";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::I16: return "I16";
    case DType::I8: return "I8";
    case DType::U64: return "U64";
    case DType::U32: return "U32";
    case DType::U16: return "U16";
    case DType::U8: return "U8";
    case DType::BOOL: return "BOOL";
  }
  return "?";
}

std::size_t dtypeSize(DType d) noexcept {
  switch (d) {
    case DType::F64: case DType::I64: case DType::U64: return 8;
    case DType::F32: case DType::I32: case DType::U32: return 4;
    case DType::F16: case DType::BF16: case DType::I16: case DType::U16: return 2;
    case DType::F8_E4M3: case DType::F8_E5M2: case DType::I8: case DType::U8: case DType::BOOL: return 1;
  }
  return 0;
}

bool dtypeIsFloat(DType d) noexcept {
  switch (d) {
    case DType::F64: case DType::F32: case DType::F16: case DType::BF16:
    case DType::F8_E4M3: case DType::F8_E5M2:
      return true;
    default:
      return false;
  }
}

bool parseDType(const std::string& name, DType* out) noexcept {
  static const DType all[] = {DType::F64, DType::F32, DType::F16, DType::BF16, DType::F8_E4M3,
                              DType::F8_E5M2, DType::I64, DType::I32, DType::I16, DType::I8,
                              DType::U64, DType::U32, DType::U16, DType::U8, DType::BOOL};
  for (DType d : all) {
    if (name == dtypeName(d)) {
      *out = d;
      return true;
    }
  }
  return false;
}

std::string formatShape(const std::vector<std::uint64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

SafetensorsHeader parseSafetensorsHeader(const std::string& file, const char* json, std::size_t jsonLength,
                                         std::uint64_t fileSize) {
  SafetensorsHeader h;
  h.file = file;
  h.fileSize = fileSize;
  h.headerLength = jsonLength;
  h.dataStart = 8 + static_cast<std::uint64_t>(jsonLength);

  std::size_t bad = firstInvalidUtf8(reinterpret_cast<const unsigned char*>(json), jsonLength);
  if (bad != jsonLength) {
    throw SafetensorsError(file, "", "header is not valid UTF-8 (invalid byte sequence at header byte " +
                                         std::to_string(bad) + ")");
  }
  JsonValue root = JsonParser(file, json, jsonLength).parseDocument();
  if (root.kind != JsonValue::Kind::Object) {
    throw SafetensorsError(file, "", "header must be a JSON object mapping tensor names to entries");
  }

  struct Span {
    std::uint64_t begin, end;
    std::size_t index;
  };
  std::vector<Span> spans;
  for (auto& [name, entry] : root.members) {
    if (name == "__metadata__") {
      if (entry.kind != JsonValue::Kind::Object) {
        throw SafetensorsError(file, "", "__metadata__ must be an object mapping strings to strings");
      }
      for (auto& [k, v] : entry.members) {
        if (v.kind != JsonValue::Kind::String) {
          throw SafetensorsError(file, "", "__metadata__ value for key \"" + k + "\" must be a string");
        }
        h.metadata.emplace_back(k, v.text);
      }
      continue;
    }
    if (entry.kind != JsonValue::Kind::Object) {
      throw SafetensorsError(file, name, "entry must be an object {dtype, shape, data_offsets}");
    }
    const JsonValue* dtypeV = nullptr;
    const JsonValue* shapeV = nullptr;
    const JsonValue* offsetsV = nullptr;
    for (auto& [k, v] : entry.members) {
      if (k == "dtype") dtypeV = &v;
      else if (k == "shape") shapeV = &v;
      else if (k == "data_offsets") offsetsV = &v;
      else throw SafetensorsError(file, name, "entry has unknown field \"" + k + "\" (allowed: dtype, shape, data_offsets)");
    }
    if (!dtypeV) throw SafetensorsError(file, name, "entry is missing field \"dtype\"");
    if (!shapeV) throw SafetensorsError(file, name, "entry is missing field \"shape\"");
    if (!offsetsV) throw SafetensorsError(file, name, "entry is missing field \"data_offsets\"");

    TensorInfo t;
    t.name = name;
    if (dtypeV->kind != JsonValue::Kind::String) throw SafetensorsError(file, name, "dtype must be a string");
    if (!parseDType(dtypeV->text, &t.dtype)) {
      throw SafetensorsError(file, name, "unknown dtype \"" + dtypeV->text +
                                             "\" (known: F64 F32 F16 BF16 F8_E4M3 F8_E5M2 I64 I32 I16 I8 U64 U32 U16 U8 BOOL)");
    }
    if (shapeV->kind != JsonValue::Kind::Array) {
      throw SafetensorsError(file, name, "shape must be an array of non-negative integers");
    }
    std::uint64_t count = 1;
    bool overflow = false;
    for (std::size_t i = 0; i < shapeV->items.size(); ++i) {
      std::uint64_t d;
      if (!jsonToU64(shapeV->items[i], &d)) {
        throw SafetensorsError(file, name, "shape must be an array of non-negative integers; dimension " +
                                               std::to_string(i) + " " + describeNumberProblem(shapeV->items[i]));
      }
      t.shape.push_back(d);
      overflow = overflow || mulOverflows(count, d, &count);
    }
    std::uint64_t bytes = 0;
    if (overflow || mulOverflows(count, dtypeSize(t.dtype), &bytes)) {
      throw SafetensorsError(file, name, "shape " + formatShape(t.shape) + " of " + dtypeName(t.dtype) +
                                             ": element count x dtype size overflows 64 bits");
    }
    t.elementCount = count;
    if (offsetsV->kind != JsonValue::Kind::Array || offsetsV->items.size() != 2) {
      throw SafetensorsError(file, name, "data_offsets must be an array [begin, end] of two non-negative integers");
    }
    std::uint64_t begin, end;
    for (int k = 0; k < 2; ++k) {
      if (!jsonToU64(offsetsV->items[k], k == 0 ? &begin : &end)) {
        throw SafetensorsError(file, name, std::string("data_offsets ") + (k == 0 ? "begin " : "end ") +
                                               describeNumberProblem(offsetsV->items[k]));
      }
    }
    if (end < begin) {
      throw SafetensorsError(file, name, "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                                             "] end before begin");
    }
    if (end - begin != bytes) {
      throw SafetensorsError(file, name, "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                                             "] span " + std::to_string(end - begin) + " bytes but " +
                                             dtypeName(t.dtype) + " " + formatShape(t.shape) + " needs " +
                                             std::to_string(bytes) + " bytes");
    }
    t.byteLength = bytes;
    t.byteOffset = begin;  // made absolute below
    spans.push_back({begin, end, h.tensors.size()});
    h.tensors.push_back(std::move(t));
  }

  // Layout: sorted by begin, each starting where the previous ended, from 0.
  std::stable_sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t cursor = 0;
  const std::string* previous = nullptr;
  for (const Span& s : spans) {
    const std::string& name = h.tensors[s.index].name;
    if (s.begin > cursor) {
      throw SafetensorsError(file, name, "data_offsets begin at " + std::to_string(s.begin) + " but the data before it ends at " +
                                             std::to_string(cursor) + " (gap of " + std::to_string(s.begin - cursor) +
                                             " unused bytes" + (previous ? " after tensor '" + *previous + "'" : std::string(" at the start of the data buffer")) + ")");
    }
    if (s.begin < cursor) {
      throw SafetensorsError(file, name, "data_offsets [" + std::to_string(s.begin) + ", " + std::to_string(s.end) +
                                             "] overlap tensor '" + (previous ? *previous : std::string("?")) +
                                             "' which ends at " + std::to_string(cursor));
    }
    cursor = s.end;
    previous = &name;
  }
  std::uint64_t expectedSize;
  if (addOverflows(h.dataStart, cursor, &expectedSize) || expectedSize != fileSize) {
    if (!addOverflows(h.dataStart, cursor, &expectedSize) && expectedSize < fileSize) {
      throw SafetensorsError(file, "", "file is " + std::to_string(fileSize) + " bytes but 8 + header " +
                                           std::to_string(h.headerLength) + " + data " + std::to_string(cursor) +
                                           " = " + std::to_string(expectedSize) +
                                           " bytes; the data buffer is not fully covered by tensors (trailing bytes)");
    }
    throw SafetensorsError(file, "", "file is " + std::to_string(fileSize) + " bytes but the tensors need data up to byte " +
                                         std::to_string(cursor) + " after the " + std::to_string(h.dataStart) +
                                         "-byte header (file truncated)");
  }

  std::vector<TensorInfo> ordered;
  ordered.reserve(h.tensors.size());
  for (const Span& s : spans) {
    TensorInfo t = std::move(h.tensors[s.index]);
    t.byteOffset += h.dataStart;
    ordered.push_back(std::move(t));
  }
  h.tensors = std::move(ordered);
  return h;
}

void convertToFloat32(DType dtype, const std::uint8_t* src, std::uint64_t count, float* dst,
                      const std::string& file, const std::string& tensor) {
  static const bool little = hostIsLittleEndian();
  if (!little) throw SafetensorsError(file, tensor, "reading safetensors needs a little-endian host");
  switch (dtype) {
    case DType::F32:
      std::memcpy(dst, src, count * 4);
      return;
    case DType::F64:
      for (std::uint64_t i = 0; i < count; ++i) {
        double d;
        std::memcpy(&d, src + 8 * i, 8);
        dst[i] = static_cast<float>(d);
      }
      return;
    case DType::F16:
      for (std::uint64_t i = 0; i < count; ++i) {
        std::uint16_t b;
        std::memcpy(&b, src + 2 * i, 2);
        dst[i] = halfToFloat(b);
      }
      return;
    case DType::BF16:
      for (std::uint64_t i = 0; i < count; ++i) {
        std::uint16_t b;
        std::memcpy(&b, src + 2 * i, 2);
        dst[i] = bf16ToFloat(b);
      }
      return;
    case DType::F8_E4M3:
      for (std::uint64_t i = 0; i < count; ++i) dst[i] = e4m3ToFloat(src[i]);
      return;
    case DType::F8_E5M2:
      for (std::uint64_t i = 0; i < count; ++i) dst[i] = e5m2ToFloat(src[i]);
      return;
    default:
      throw SafetensorsError(file, tensor, std::string("has dtype ") + dtypeName(dtype) +
                                               "; only floating-point tensors (F64, F32, F16, BF16, F8_E4M3, F8_E5M2) convert to float32");
  }
}

// ---------------------------------------------------------------------------

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    throw SafetensorsError(path, "", std::string("cannot open file: ") + std::strerror(err));
  }
  struct FdGuard {
    int fd;
    ~FdGuard() {
      if (fd >= 0) ::close(fd);
    }
  } guard{fd};

  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    throw SafetensorsError(path, "", std::string("cannot stat file: ") + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) throw SafetensorsError(path, "", "is not a regular file");
  const std::uint64_t fileSize = static_cast<std::uint64_t>(st.st_size);
  if (fileSize < 8) {
    throw SafetensorsError(path, "", "file is " + std::to_string(fileSize) +
                                         " bytes; a safetensors file starts with an 8-byte header length");
  }
  unsigned char lenBytes[8];
  preadFully(fd, path, "", 0, lenBytes, 8);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | lenBytes[i];
  // Both limits are checked before the header buffer is allocated.
  if (n > kSafetensorsMaxHeaderBytes) {
    throw SafetensorsError(path, "", "header length " + std::to_string(n) + " exceeds the limit of " +
                                         std::to_string(kSafetensorsMaxHeaderBytes) + " bytes");
  }
  if (n > fileSize - 8) {
    throw SafetensorsError(path, "", "header length " + std::to_string(n) + " runs past the end of the file (file is " +
                                         std::to_string(fileSize) + " bytes, so at most " + std::to_string(fileSize - 8) +
                                         " header bytes fit)");
  }
  std::string json(static_cast<std::size_t>(n), '\0');
  preadFully(fd, path, "", 8, json.data(), n);
  SafetensorsHeader header = parseSafetensorsHeader(path, json.data(), json.size(), fileSize);
  guard.fd = -1;
  return SafetensorsFile(fd, std::move(header));
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept
    : fd_(other.fd_), header_(std::move(other.header_)) {
  other.fd_ = -1;
}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    header_ = std::move(other.header_);
    other.fd_ = -1;
  }
  return *this;
}

SafetensorsFile::~SafetensorsFile() {
  if (fd_ >= 0) ::close(fd_);
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const noexcept {
  for (const TensorInfo& t : header_.tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

const TensorInfo& SafetensorsFile::tensor(const std::string& name) const {
  const TensorInfo* t = find(name);
  if (!t) {
    throw SafetensorsError(header_.file, name, "is not in the file (it has " + std::to_string(header_.tensors.size()) +
                                                   " tensors)");
  }
  return *t;
}

void SafetensorsFile::readAt(std::uint64_t offset, void* dst, std::uint64_t length, const std::string& tensor) const {
  preadFully(fd_, header_.file, tensor, offset, dst, length);
}

void SafetensorsFile::readRaw(const TensorInfo& t, void* dst) const { readAt(t.byteOffset, dst, t.byteLength, t.name); }

void SafetensorsFile::readFloat32(const TensorInfo& t, float* dst) const {
  if (!dtypeIsFloat(t.dtype)) convertToFloat32(t.dtype, nullptr, 0, dst, header_.file, t.name);  // throws
  if (t.dtype == DType::F32) {
    readAt(t.byteOffset, dst, t.byteLength, t.name);
    return;
  }
  // Convert in bounded chunks so a large tensor needs no second full-size buffer.
  const std::size_t elemSize = dtypeSize(t.dtype);
  const std::uint64_t chunkElems = (1u << 20) / elemSize;
  std::vector<std::uint8_t> buf(static_cast<std::size_t>(std::min<std::uint64_t>(t.byteLength, chunkElems * elemSize)));
  for (std::uint64_t i = 0; i < t.elementCount; i += chunkElems) {
    std::uint64_t n = std::min<std::uint64_t>(chunkElems, t.elementCount - i);
    readAt(t.byteOffset + i * elemSize, buf.data(), n * elemSize, t.name);
    convertToFloat32(t.dtype, buf.data(), n, dst + i, header_.file, t.name);
  }
}

std::vector<float> SafetensorsFile::readFloat32(const std::string& name) const {
  const TensorInfo& t = tensor(name);
  if (!dtypeIsFloat(t.dtype)) convertToFloat32(t.dtype, nullptr, 0, nullptr, header_.file, t.name);  // throws
  std::vector<float> out(static_cast<std::size_t>(t.elementCount));
  readFloat32(t, out.data());
  return out;
}

void FreeDeleter::operator()(float* p) const noexcept { std::free(p); }

WeightArena loadWeights(const std::string& path, const std::vector<ExpectedTensor>& expected) {
  SafetensorsFile f = SafetensorsFile::open(path);
  struct Problem {
    std::string tensor;
    std::string detail;
  };
  std::vector<std::string> missing;
  std::vector<Problem> problems;
  std::unordered_set<std::string> seen;
  std::vector<const TensorInfo*> found;
  found.reserve(expected.size());
  for (const ExpectedTensor& e : expected) {
    if (!seen.insert(e.name).second) {
      throw SafetensorsError(path, e.name, "is listed twice in the expected tensor list");
    }
    const TensorInfo* t = f.find(e.name);
    found.push_back(t);
    if (!t) {
      missing.push_back(e.name);
    } else if (t->shape != e.shape) {
      problems.push_back({e.name, "expected shape " + formatShape(e.shape) + ", found " + formatShape(t->shape)});
    } else if (!dtypeIsFloat(t->dtype)) {
      problems.push_back({e.name, std::string("has dtype ") + dtypeName(t->dtype) +
                                      ", which does not convert to float32 (need F64, F32, F16, BF16 or F8)"});
    }
  }
  if (problems.size() == 1 && missing.empty()) {
    throw SafetensorsError(path, problems[0].tensor, problems[0].detail);
  }
  if (!problems.empty() || !missing.empty()) {
    std::string msg = "does not hold the expected tensors:";
    for (const Problem& p : problems) msg += " tensor '" + p.tensor + "' " + p.detail + ";";
    if (!missing.empty()) {
      msg += " missing " + std::to_string(missing.size()) + " of " + std::to_string(expected.size()) +
             " expected tensors: ";
      for (std::size_t i = 0; i < missing.size(); ++i) msg += (i ? ", " : "") + missing[i];
    }
    throw SafetensorsError(path, problems.empty() ? missing[0] : problems[0].tensor, msg);
  }

  WeightArena arena;
  constexpr std::uint64_t kAlignFloats = 16;  // 64 bytes
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    std::uint64_t aligned = (total + kAlignFloats - 1) / kAlignFloats * kAlignFloats;
    arena.entries.push_back({expected[i].name, expected[i].shape, aligned, found[i]->elementCount});
    if (addOverflows(aligned, found[i]->elementCount, &total)) {
      throw SafetensorsError(path, expected[i].name, "total weight size overflows 64 bits");
    }
  }
  arena.floatCount = total;
  std::uint64_t bytes;
  if (mulOverflows(std::max<std::uint64_t>(total, 1), sizeof(float), &bytes)) {
    throw SafetensorsError(path, "", "total weight size overflows 64 bits");
  }
  bytes = (bytes + 63) / 64 * 64;
  void* mem = std::aligned_alloc(64, static_cast<std::size_t>(bytes));
  if (!mem) {
    throw SafetensorsError(path, "", "cannot allocate " + std::to_string(bytes) + " bytes for the weights");
  }
  arena.data.reset(static_cast<float*>(mem));
  std::memset(mem, 0, static_cast<std::size_t>(bytes));  // padding between tensors stays defined
  for (std::size_t i = 0; i < expected.size(); ++i) {
    f.readFloat32(*found[i], arena.data.get() + arena.entries[i].offset);
  }
  return arena;
}

}  // namespace jepa
