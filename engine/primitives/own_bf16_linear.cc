#include "engine/primitives/own_bf16_linear.h"

#include <string>
#include <utility>

#include "engine/primitives/bf16_matmul.h"

namespace llmserve {
namespace {

class OwnBf16Linear final : public LinearBackend {
 public:
  OwnBf16Linear(Bf16Matrix w, std::vector<float> bias, bool accumulate)
      : w_(std::move(w)), bias_(std::move(bias)), accumulate_(accumulate),
        impl_(std::string("f32xbf16:own_") + Bf16MatmulIsa()) {}

  void Forward(const float* x, int64_t rows, float* y) const override {
    Bf16Matmul(x, rows, w_, bias_.empty() ? nullptr : bias_.data(), accumulate_, y);
  }
  DType weight_dtype() const override { return DType::kBF16; }
  LinearBackendKind kind() const override { return LinearBackendKind::kOwnBf16; }
  int64_t weight_bytes() const override {
    return w_.rows * w_.cols * 2 + static_cast<int64_t>(bias_.size()) * 4;
  }
  const std::string& implementation() const override { return impl_; }

 private:
  Bf16Matrix w_;
  std::vector<float> bias_;
  bool accumulate_;
  std::string impl_;
};

}  // namespace

std::unique_ptr<LinearBackend> CreateOwnBf16Linear(const std::vector<float>& w32, int64_t out,
                                                   int64_t in, std::vector<float> bias,
                                                   bool accumulate) {
  return std::make_unique<OwnBf16Linear>(Bf16Matrix::FromFloat(w32.data(), out, in),
                                         std::move(bias), accumulate);
}

}  // namespace llmserve
