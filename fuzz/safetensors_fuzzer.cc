// libFuzzer target: arbitrary bytes as a safetensors file. Parsing must return
// a status, never crash or read out of bounds (ASan/UBSan builds check); every
// tensor a successful parse hands out must lie inside the input.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/loaders/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  // An owned copy, so tensor views have an owner like a mapping would be.
  auto bytes = std::make_shared<std::vector<uint8_t>>(data, data + size);
  const uint8_t* begin = bytes->data();
  absl::StatusOr<llmserve::SafetensorsFile> file =
      llmserve::SafetensorsFile::Parse(bytes, begin, bytes->size(), "fuzz.safetensors");
  if (!file.ok()) return 0;
  for (const std::string& name : file->names()) {
    const llmserve::SafetensorsEntry* entry = file->FindEntry(name);
    if (entry == nullptr || entry->begin > entry->end) __builtin_trap();
    absl::StatusOr<llmserve::HostTensor> t = file->GetTensor(name);
    if (!t.ok()) continue;
    if (static_cast<uint64_t>(t->num_bytes()) != entry->end - entry->begin) __builtin_trap();
    if (t->num_bytes() > 0) {
      const auto* p = static_cast<const uint8_t*>(t->data);
      const bool inside = p >= begin && p + t->num_bytes() <= begin + bytes->size();
      const bool owned_copy = t->owner.get() != static_cast<const void*>(bytes.get());
      if (!inside && !owned_copy) __builtin_trap();
    }
    // Touch every element (ASan flags any out-of-bounds byte). Skipped for
    // empty tensors: HostTensor::ToFloat then memcpy's to a null vector buffer.
    if (t->num_elements() == 0) continue;
    volatile float sink = 0.0f;
    for (float v : t->ToFloat()) sink = sink + v;
    (void)sink;
  }
  return 0;
}
