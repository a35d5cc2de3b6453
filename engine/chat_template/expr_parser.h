#ifndef LLMSERVE_ENGINE_CHAT_TEMPLATE_EXPR_PARSER_H_
#define LLMSERVE_ENGINE_CHAT_TEMPLATE_EXPR_PARSER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/chat_template/ast.h"
#include "engine/chat_template/lexer.h"
#include "engine/chat_template/parser.h"

namespace llmserve::chat_template {

using ExprPtr = std::unique_ptr<Expr>;

/// INVALID_ARGUMENT "chat template line <line>: <what>".
absl::Status ParseError(int line, absl::string_view what);

/// A token for messages: "'name'", "string literal", "end of tag".
std::string Describe(const Token& t);

/// Recursive-descent parser of Jinja2 expressions over one tag's tokens, with
/// Jinja2's precedence (parser.h) and a cursor the statement parser shares.
/// Depth is bounded: kMaxNestingDepth nested constructs, and expression trees
/// no higher than 2 × kMaxNestingDepth (Expr::depth).
class ExprParser {
 protected:
  /// Starts on a tag's tokens (ending with a kEnd token).
  void SetTokens(const std::vector<Token>* tokens) {
    tokens_ = tokens;
    pos_ = 0;
  }

  // Cursor.
  const Token& Peek(size_t ahead = 0) const;
  const Token& Next();
  bool IsOp(std::string_view op, size_t ahead = 0) const;
  bool IsName(std::string_view name, size_t ahead = 0) const;
  bool AcceptOp(std::string_view op);
  bool AcceptName(std::string_view name);
  absl::Status ExpectOp(std::string_view op);
  absl::StatusOr<std::string> ExpectIdentifier(absl::string_view what);
  /// OK at the end of the tag, else "unexpected X in <construct>".
  absl::Status ExpectEnd(std::string_view construct);
  ExprPtr MakeExpr(Expr::Kind kind, int line);
  /// Counts one level of nesting (callers decrement depth_ when done).
  absl::Status Enter(int line);
  /// Sets e->depth from its children; errors past 2 × kMaxNestingDepth.
  absl::Status Deepen(Expr* e);

  // Grammar, loosest binding first.
  /// `a, b` (a tuple) or one expression.
  absl::StatusOr<ExprPtr> ParseTupleOrExpression();
  /// An expression with `x if c else y`.
  absl::StatusOr<ExprPtr> ParseExpression();
  /// An expression without the conditional (a `for` loop's iterable).
  absl::StatusOr<ExprPtr> ParseOr();

  int depth_ = 0;

 private:
  ExprPtr Binary(std::string op, ExprPtr left, ExprPtr right, int line);
  absl::StatusOr<ExprPtr> ParseAnd();
  absl::StatusOr<ExprPtr> ParseNot();
  absl::StatusOr<ExprPtr> ParseCompare();
  absl::StatusOr<ExprPtr> ParseMath1();
  absl::StatusOr<ExprPtr> ParseConcat();
  absl::StatusOr<ExprPtr> ParseMath2();
  absl::StatusOr<ExprPtr> ParsePow();
  absl::StatusOr<ExprPtr> ParseUnary(bool with_filter);
  absl::StatusOr<ExprPtr> ParsePrimary();
  absl::StatusOr<ExprPtr> ParsePostfix(ExprPtr node);
  absl::StatusOr<ExprPtr> ParseSubscript(ExprPtr node, int line);
  absl::Status ParseArgs(Expr* call);
  absl::StatusOr<ExprPtr> ParseCall(ExprPtr callee);
  absl::StatusOr<ExprPtr> ParseFilterExpr(ExprPtr node);

  const std::vector<Token>* tokens_ = nullptr;
  size_t pos_ = 0;
};

}  // namespace llmserve::chat_template

#endif  // LLMSERVE_ENGINE_CHAT_TEMPLATE_EXPR_PARSER_H_
