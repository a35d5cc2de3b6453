#include "engine/chat_template/expr_parser.h"

#include <algorithm>
#include <set>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"

namespace llmserve::chat_template {

absl::Status ParseError(int line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("chat template line ", line, ": ", what));
}

std::string Describe(const Token& t) {
  switch (t.type) {
    case Token::Type::kEnd:
      return "end of tag";
    case Token::Type::kString:
      return "string literal";
    default:
      return "'" + t.text + "'";
  }
}

const Token& ExprParser::Peek(size_t ahead) const {
  size_t i = pos_ + ahead;
  return i < tokens_->size() ? (*tokens_)[i] : tokens_->back();
}
const Token& ExprParser::Next() {
  const Token& t = Peek();
  if (pos_ < tokens_->size() - 1) ++pos_;
  return t;
}
bool ExprParser::IsOp(std::string_view op, size_t ahead) const {
  return Peek(ahead).type == Token::Type::kOperator && Peek(ahead).text == op;
}
bool ExprParser::IsName(std::string_view name, size_t ahead) const {
  return Peek(ahead).type == Token::Type::kName && Peek(ahead).text == name;
}
bool ExprParser::AcceptOp(std::string_view op) {
  if (!IsOp(op)) return false;
  Next();
  return true;
}
bool ExprParser::AcceptName(std::string_view name) {
  if (!IsName(name)) return false;
  Next();
  return true;
}
absl::Status ExprParser::ExpectOp(std::string_view op) {
  if (AcceptOp(op)) return absl::OkStatus();
  return ParseError(Peek().line, absl::StrCat("expected '", std::string(op), "', got ", Describe(Peek())));
}
absl::StatusOr<std::string> ExprParser::ExpectIdentifier(absl::string_view what) {
  if (Peek().type != Token::Type::kName) {
    return ParseError(Peek().line, absl::StrCat("expected ", what, ", got ", Describe(Peek())));
  }
  return Next().text;
}
absl::Status ExprParser::ExpectEnd(std::string_view construct) {
  if (Peek().type == Token::Type::kEnd) return absl::OkStatus();
  return ParseError(Peek().line,
                    absl::StrCat("unexpected ", Describe(Peek()), " in ", std::string(construct)));
}
ExprPtr ExprParser::MakeExpr(Expr::Kind kind, int line) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->line = line;
  return e;
}

// A depth guard for recursive descent.
absl::Status ExprParser::Enter(int line) {
  if (++depth_ > kMaxNestingDepth) {
    return ParseError(line, absl::StrCat("nesting deeper than ", kMaxNestingDepth));
  }
  return absl::OkStatus();
}


// Sets e->depth from its children; expression trees deeper than
// kMaxNestingDepth * 2 are refused (chains such as a + b + ... are parsed
// iteratively, but evaluating, checking and freeing them recurses).
absl::Status ExprParser::Deepen(Expr* e) {
  int depth = 0;
  for (const auto& c : e->children) {
    if (c != nullptr) depth = std::max(depth, c->depth);
  }
  for (const auto& [unused, c] : e->keyword) depth = std::max(depth, c->depth);
  e->depth = depth + 1;
  if (e->depth > 2 * kMaxNestingDepth) {
    return ParseError(e->line, absl::StrCat("expression nesting deeper than ", 2 * kMaxNestingDepth));
  }
  return absl::OkStatus();
}

// ---- expressions ----
absl::StatusOr<ExprPtr> ExprParser::ParseTupleOrExpression() {
  int line = Peek().line;
  LLMSERVE_ASSIGN_OR_RETURN(ExprPtr first, ParseExpression());
  if (!IsOp(",")) return first;
  auto list = MakeExpr(Expr::Kind::kTuple, line);
  list->children.push_back(std::move(first));
  while (AcceptOp(",")) {
    if (Peek().type == Token::Type::kEnd) break;
    LLMSERVE_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression());
    list->children.push_back(std::move(item));
  }
  LLMSERVE_RETURN_IF_ERROR(Deepen(list.get()));
  return list;
}

absl::StatusOr<ExprPtr> ExprParser::ParseExpression() {
  LLMSERVE_RETURN_IF_ERROR(Enter(Peek().line));
  LLMSERVE_ASSIGN_OR_RETURN(ExprPtr expr, ParseOr());
  while (IsName("if")) {
    int line = Next().line;
    auto cond = MakeExpr(Expr::Kind::kConditional, line);
    LLMSERVE_ASSIGN_OR_RETURN(ExprPtr test, ParseOr());
    ExprPtr otherwise;
    if (AcceptName("else")) {
      LLMSERVE_ASSIGN_OR_RETURN(otherwise, ParseExpression());
    }
    cond->children.push_back(std::move(expr));
    cond->children.push_back(std::move(test));
    cond->children.push_back(std::move(otherwise));
    LLMSERVE_RETURN_IF_ERROR(Deepen(cond.get()));
    expr = std::move(cond);
  }
  --depth_;
  return expr;
}

ExprPtr ExprParser::Binary(std::string op, ExprPtr left, ExprPtr right, int line) {
  auto e = MakeExpr(Expr::Kind::kBinary, line);
  e->name = std::move(op);
  e->children.push_back(std::move(left));
  e->children.push_back(std::move(right));
  return e;
}

absl::StatusOr<ExprPtr> ExprParser::ParseOr() {
  LLMSERVE_ASSIGN_OR_RETURN(ExprPtr left, ParseAnd());
  while (IsName("or")) {
    int line = Next().line;
    LLMSERVE_ASSIGN_OR_RETURN(ExprPtr right, ParseAnd());
    left = Binary("or", std::move(left), std::move(right), line);
    LLMSERVE_RETURN_IF_ERROR(Deepen(left.get()));
  }
  return left;
}

absl::StatusOr<ExprPtr> ExprParser::ParseAnd() {
  LLMSERVE_ASSIGN_OR_RETURN(ExprPtr left, ParseNot());
  while (IsName("and")) {
    int line = Next().line;
    LLMSERVE_ASSIGN_OR_RETURN(ExprPtr right, ParseNot());
    left = Binary("and", std::move(left), std::move(right), line);
    LLMSERVE_RETURN_IF_ERROR(Deepen(left.get()));
  }
  return left;
}

absl::StatusOr<ExprPtr> ExprParser::ParseNot() {
  if (IsName("not")) {
    int line = Next().line;
    LLMSERVE_RETURN_IF_ERROR(Enter(line));
    auto e = MakeExpr(Expr::Kind::kUnary, line);
    e->name = "not";
    LLMSERVE_ASSIGN_OR_RETURN(ExprPtr operand, ParseNot());
    e->children.push_back(std::move(operand));
    --depth_;
    LLMSERVE_RETURN_IF_ERROR(Deepen(e.get()));
    return e;
  }
  return ParseCompare();
}

absl::StatusOr<ExprPtr> ExprParser::ParseCompare() {
  static const std::set<std::string> kOps = {"==", "!=", "<", "<=", ">", ">="};
  LLMSERVE_ASSIGN_OR_RETURN(ExprPtr left, ParseMath1());
  // Chains (a < b < c) are parsed left to right: (a < b) and (b < c) is not
  // modelled; published templates do not chain comparisons.
  while (true) {
    int line = Peek().line;
    std::string op;
    if (Peek().type == Token::Type::kOperator && kOps.count(Peek().text) != 0) {
      op = Next().text;
    } else if (IsName("in")) {
      Next();
      op = "in";
    } else if (IsName("not") && IsName("in", 1)) {
      Next();
      Next();
      op = "not in";
    } else {
      return left;
    }
    LLMSERVE_ASSIGN_OR_RETURN(ExprPtr right, ParseMath1());
    left = Binary(op, std::move(left), std::move(right), line);
    LLMSERVE_RETURN_IF_ERROR(Deepen(left.get()));
  }
}

absl::StatusOr<ExprPtr> ExprParser::ParseMath1() {
  LLMSERVE_ASSIGN_OR_RETURN(ExprPtr left, ParseConcat());
  while (IsOp("+") || IsOp("-")) {
    const Token& t = Next();
    LLMSERVE_ASSIGN_OR_RETURN(ExprPtr right, ParseConcat());
    left = Binary(t.text, std::move(left), std::move(right), t.line);
    LLMSERVE_RETURN_IF_ERROR(Deepen(left.get()));
  }
  return left;
}

absl::StatusOr<ExprPtr> ExprParser::ParseConcat() {
  LLMSERVE_ASSIGN_OR_RETURN(ExprPtr left, ParseMath2());
  while (IsOp("~")) {
    int line = Next().line;
    LLMSERVE_ASSIGN_OR_RETURN(ExprPtr right, ParseMath2());
    left = Binary("~", std::move(left), std::move(right), line);
    LLMSERVE_RETURN_IF_ERROR(Deepen(left.get()));
  }
  return left;
}

absl::StatusOr<ExprPtr> ExprParser::ParseMath2() {
  LLMSERVE_ASSIGN_OR_RETURN(ExprPtr left, ParsePow());
  while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
    const Token& t = Next();
    LLMSERVE_ASSIGN_OR_RETURN(ExprPtr right, ParsePow());
    left = Binary(t.text, std::move(left), std::move(right), t.line);
    LLMSERVE_RETURN_IF_ERROR(Deepen(left.get()));
  }
  return left;
}

absl::StatusOr<ExprPtr> ExprParser::ParsePow() {
  LLMSERVE_ASSIGN_OR_RETURN(ExprPtr left, ParseUnary(true));
  while (IsOp("**")) {
    int line = Next().line;
    LLMSERVE_ASSIGN_OR_RETURN(ExprPtr right, ParseUnary(true));
    left = Binary("**", std::move(left), std::move(right), line);
    LLMSERVE_RETURN_IF_ERROR(Deepen(left.get()));
  }
  return left;
}

absl::StatusOr<ExprPtr> ExprParser::ParseUnary(bool with_filter) {
  ExprPtr node;
  int line = Peek().line;
  LLMSERVE_RETURN_IF_ERROR(Enter(line));
  if (IsOp("-") || IsOp("+")) {
    node = MakeExpr(Expr::Kind::kUnary, line);
    node->name = Next().text;
    LLMSERVE_ASSIGN_OR_RETURN(ExprPtr operand, ParseUnary(false));
    node->children.push_back(std::move(operand));
    LLMSERVE_RETURN_IF_ERROR(Deepen(node.get()));
  } else {
    LLMSERVE_ASSIGN_OR_RETURN(node, ParsePrimary());
  }
  LLMSERVE_ASSIGN_OR_RETURN(node, ParsePostfix(std::move(node)));
  if (with_filter) {
    LLMSERVE_ASSIGN_OR_RETURN(node, ParseFilterExpr(std::move(node)));
  }
  --depth_;
  return node;
}

absl::StatusOr<ExprPtr> ExprParser::ParsePrimary() {
  const Token& t = Peek();
  int line = t.line;
  switch (t.type) {
    case Token::Type::kName: {
      Next();
      auto e = MakeExpr(Expr::Kind::kLiteral, line);
      if (t.text == "true" || t.text == "True") {
        e->value = Value::Bool(true);
      } else if (t.text == "false" || t.text == "False") {
        e->value = Value::Bool(false);
      } else if (t.text == "none" || t.text == "None") {
        e->value = Value::None();
      } else {
        e->kind = Expr::Kind::kName;
        e->name = t.text;
      }
      return e;
    }
    case Token::Type::kString: {
      std::string s;
      while (Peek().type == Token::Type::kString) s += Next().text;
      auto e = MakeExpr(Expr::Kind::kLiteral, line);
      e->value = Value::String(std::move(s));
      return e;
    }
    case Token::Type::kInt: {
      auto e = MakeExpr(Expr::Kind::kLiteral, line);
      e->value = Value::Int(Next().int_value);
      return e;
    }
    case Token::Type::kFloat: {
      auto e = MakeExpr(Expr::Kind::kLiteral, line);
      e->value = Value::Float(Next().float_value);
      return e;
    }
    case Token::Type::kOperator:
      if (AcceptOp("(")) {
        if (AcceptOp(")")) return MakeExpr(Expr::Kind::kTuple, line);
        LLMSERVE_ASSIGN_OR_RETURN(ExprPtr inner, ParseExpression());
        if (IsOp(",")) {
          auto list = MakeExpr(Expr::Kind::kTuple, line);
          list->children.push_back(std::move(inner));
          while (AcceptOp(",")) {
            if (IsOp(")")) break;
            LLMSERVE_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression());
            list->children.push_back(std::move(item));
          }
          LLMSERVE_RETURN_IF_ERROR(Deepen(list.get()));
          inner = std::move(list);
        }
        LLMSERVE_RETURN_IF_ERROR(ExpectOp(")"));
        return inner;
      }
      if (AcceptOp("[")) {
        auto list = MakeExpr(Expr::Kind::kList, line);
        while (!AcceptOp("]")) {
          LLMSERVE_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression());
          list->children.push_back(std::move(item));
          if (!AcceptOp(",")) {
            LLMSERVE_RETURN_IF_ERROR(ExpectOp("]"));
            break;
          }
        }
        LLMSERVE_RETURN_IF_ERROR(Deepen(list.get()));
        return list;
      }
      if (AcceptOp("{")) {
        auto dict = MakeExpr(Expr::Kind::kDict, line);
        while (!AcceptOp("}")) {
          LLMSERVE_ASSIGN_OR_RETURN(ExprPtr key, ParseExpression());
          LLMSERVE_RETURN_IF_ERROR(ExpectOp(":"));
          LLMSERVE_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
          dict->children.push_back(std::move(key));
          dict->children.push_back(std::move(value));
          if (!AcceptOp(",")) {
            LLMSERVE_RETURN_IF_ERROR(ExpectOp("}"));
            break;
          }
        }
        LLMSERVE_RETURN_IF_ERROR(Deepen(dict.get()));
        return dict;
      }
      break;
    default:
      break;
  }
  return ParseError(line, absl::StrCat("unexpected ", Describe(t), " in expression"));
}

absl::StatusOr<ExprPtr> ExprParser::ParsePostfix(ExprPtr node) {
  while (true) {
    int line = Peek().line;
    if (AcceptOp(".")) {
      if (Peek().type == Token::Type::kInt) {
        auto e = MakeExpr(Expr::Kind::kGetItem, line);
        auto index = MakeExpr(Expr::Kind::kLiteral, line);
        index->value = Value::Int(Next().int_value);
        e->children.push_back(std::move(node));
        e->children.push_back(std::move(index));
        LLMSERVE_RETURN_IF_ERROR(Deepen(e.get()));
        LLMSERVE_RETURN_IF_ERROR(Deepen(e.get()));
      node = std::move(e);
        continue;
      }
      LLMSERVE_ASSIGN_OR_RETURN(std::string attr, ExpectIdentifier("an attribute name after '.'"));
      auto e = MakeExpr(Expr::Kind::kGetAttr, line);
      e->name = std::move(attr);
      e->children.push_back(std::move(node));
      LLMSERVE_RETURN_IF_ERROR(Deepen(e.get()));
      node = std::move(e);
    } else if (AcceptOp("[")) {
      LLMSERVE_ASSIGN_OR_RETURN(node, ParseSubscript(std::move(node), line));
    } else if (IsOp("(")) {
      LLMSERVE_ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
    } else {
      return node;
    }
  }
}

absl::StatusOr<ExprPtr> ExprParser::ParseSubscript(ExprPtr node, int line) {
  ExprPtr parts[3];
  bool is_slice = false;
  if (!IsOp(":")) {
    LLMSERVE_ASSIGN_OR_RETURN(parts[0], ParseExpression());
  }
  if (AcceptOp(":")) {
    is_slice = true;
    if (!IsOp("]") && !IsOp(":")) {
      LLMSERVE_ASSIGN_OR_RETURN(parts[1], ParseExpression());
    }
    if (AcceptOp(":") && !IsOp("]")) {
      LLMSERVE_ASSIGN_OR_RETURN(parts[2], ParseExpression());
    }
  }
  LLMSERVE_RETURN_IF_ERROR(ExpectOp("]"));
  auto e = MakeExpr(is_slice ? Expr::Kind::kSlice : Expr::Kind::kGetItem, line);
  e->children.push_back(std::move(node));
  e->children.push_back(std::move(parts[0]));
  if (is_slice) {
    e->children.push_back(std::move(parts[1]));
    e->children.push_back(std::move(parts[2]));
  }
  LLMSERVE_RETURN_IF_ERROR(Deepen(e.get()));
  return e;
}

// Parses "(args)" into `call` (children[1..] and keyword).
absl::Status ExprParser::ParseArgs(Expr* call) {
  LLMSERVE_RETURN_IF_ERROR(ExpectOp("("));
  while (!AcceptOp(")")) {
    if (Peek().type == Token::Type::kName && IsOp("=", 1)) {
      std::string name = Next().text;
      Next();
      LLMSERVE_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
      call->keyword.emplace_back(std::move(name), std::move(value));
    } else {
      if (!call->keyword.empty()) {
        return ParseError(Peek().line, "positional argument after a keyword argument");
      }
      LLMSERVE_ASSIGN_OR_RETURN(ExprPtr arg, ParseExpression());
      call->children.push_back(std::move(arg));
    }
    if (!AcceptOp(",")) {
      LLMSERVE_RETURN_IF_ERROR(ExpectOp(")"));
      break;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ExprPtr> ExprParser::ParseCall(ExprPtr callee) {
  auto e = MakeExpr(Expr::Kind::kCall, Peek().line);
  e->children.push_back(std::move(callee));
  LLMSERVE_RETURN_IF_ERROR(ParseArgs(e.get()));
  LLMSERVE_RETURN_IF_ERROR(Deepen(e.get()));
  return e;
}

absl::StatusOr<ExprPtr> ExprParser::ParseFilterExpr(ExprPtr node) {
  while (true) {
    int line = Peek().line;
    if (AcceptOp("|")) {
      auto e = MakeExpr(Expr::Kind::kFilter, line);
      LLMSERVE_ASSIGN_OR_RETURN(e->name, ExpectIdentifier("a filter name after '|'"));
      e->children.push_back(std::move(node));
      if (IsOp("(")) LLMSERVE_RETURN_IF_ERROR(ParseArgs(e.get()));
      LLMSERVE_RETURN_IF_ERROR(Deepen(e.get()));
      node = std::move(e);
    } else if (AcceptName("is")) {
      auto e = MakeExpr(Expr::Kind::kTest, line);
      e->negated = AcceptName("not");
      LLMSERVE_ASSIGN_OR_RETURN(e->name, ExpectIdentifier("a test name after 'is'"));
      e->children.push_back(std::move(node));
      const Token& t = Peek();
      if (IsOp("(")) {
        LLMSERVE_RETURN_IF_ERROR(ParseArgs(e.get()));
      } else if (t.type == Token::Type::kName && t.text == "is") {
        return ParseError(t.line, "cannot chain multiple tests with 'is'");
      } else if ((t.type == Token::Type::kName && t.text != "else" && t.text != "or" &&
                  t.text != "and") ||
                 t.type == Token::Type::kString || t.type == Token::Type::kInt ||
                 t.type == Token::Type::kFloat || IsOp("[") || IsOp("{")) {
        LLMSERVE_ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());
        LLMSERVE_ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
        e->children.push_back(std::move(arg));
      }
      LLMSERVE_RETURN_IF_ERROR(Deepen(e.get()));
      node = std::move(e);
    } else if (IsOp("(")) {
      LLMSERVE_ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
    } else {
      return node;
    }
  }
}

}  // namespace llmserve::chat_template
