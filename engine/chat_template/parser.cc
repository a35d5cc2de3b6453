#include "engine/chat_template/parser.h"

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/chat_template/lexer.h"
#include "engine/common/status_macros.h"

namespace llmserve::chat_template {
namespace {

using ExprPtr = std::unique_ptr<Expr>;

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

class Parser {
 public:
  explicit Parser(std::vector<Segment> segments) : segments_(std::move(segments)) {}

  absl::StatusOr<NodeList> ParseAll() {
    NodeList nodes;
    std::string end;
    LLMSERVE_RETURN_IF_ERROR(ParseBody({}, &nodes, &end));
    return nodes;
  }

 private:
  // ---- token cursor within the current tag ----
  const Token& Peek(size_t ahead = 0) const {
    size_t i = pos_ + ahead;
    return i < tokens_->size() ? (*tokens_)[i] : tokens_->back();
  }
  const Token& Next() {
    const Token& t = Peek();
    if (pos_ < tokens_->size() - 1) ++pos_;
    return t;
  }
  bool IsOp(std::string_view op, size_t ahead = 0) const {
    return Peek(ahead).type == Token::Type::kOperator && Peek(ahead).text == op;
  }
  bool IsName(std::string_view name, size_t ahead = 0) const {
    return Peek(ahead).type == Token::Type::kName && Peek(ahead).text == name;
  }
  bool AcceptOp(std::string_view op) {
    if (!IsOp(op)) return false;
    Next();
    return true;
  }
  bool AcceptName(std::string_view name) {
    if (!IsName(name)) return false;
    Next();
    return true;
  }
  absl::Status ExpectOp(std::string_view op) {
    if (AcceptOp(op)) return absl::OkStatus();
    return ParseError(Peek().line, absl::StrCat("expected '", std::string(op), "', got ", Describe(Peek())));
  }
  absl::StatusOr<std::string> ExpectIdentifier(absl::string_view what) {
    if (Peek().type != Token::Type::kName) {
      return ParseError(Peek().line, absl::StrCat("expected ", what, ", got ", Describe(Peek())));
    }
    return Next().text;
  }
  absl::Status ExpectEnd(std::string_view construct) {
    if (Peek().type == Token::Type::kEnd) return absl::OkStatus();
    return ParseError(Peek().line,
                      absl::StrCat("unexpected ", Describe(Peek()), " in ", std::string(construct)));
  }
  ExprPtr MakeExpr(Expr::Kind kind, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line;
    return e;
  }

  // A depth guard for recursive descent.
  absl::Status Enter(int line) {
    if (++depth_ > kMaxNestingDepth) {
      return ParseError(line, absl::StrCat("nesting deeper than ", kMaxNestingDepth));
    }
    return absl::OkStatus();
  }

  // ---- statements ----
  // Parses nodes until a statement tag whose keyword is in `ends` (left as
  // the current segment, its keyword consumed, returned in `end`).
  absl::Status ParseBody(const std::set<std::string>& ends, NodeList* out, std::string* end) {
    while (seg_ < segments_.size()) {
      Segment& s = segments_[seg_];
      if (s.kind == Segment::Kind::kText) {
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::kText;
        n->line = s.line;
        n->text = std::move(s.text);
        out->push_back(std::move(n));
        ++seg_;
        continue;
      }
      tokens_ = &s.tokens;
      pos_ = 0;
      if (s.kind == Segment::Kind::kExpression) {
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::kOutput;
        n->line = s.line;
        LLMSERVE_ASSIGN_OR_RETURN(n->expr, ParseExpression());
        LLMSERVE_RETURN_IF_ERROR(ExpectEnd("expression"));
        out->push_back(std::move(n));
        ++seg_;
        continue;
      }
      if (Peek().type != Token::Type::kName) {
        return ParseError(s.line, absl::StrCat("expected a tag name, got ", Describe(Peek())));
      }
      std::string keyword = Peek().text;
      if (ends.count(keyword) != 0) {
        Next();
        *end = keyword;
        return absl::OkStatus();
      }
      Next();
      ++seg_;
      LLMSERVE_RETURN_IF_ERROR(Enter(s.line));
      LLMSERVE_RETURN_IF_ERROR(ParseStatement(keyword, s.line, out));
      --depth_;
    }
    if (!ends.empty()) {
      return ParseError(segments_.empty() ? 1 : segments_.back().line,
                        absl::StrCat("unexpected end of template, expected '",
                                     *ends.begin(), "'"));
    }
    return absl::OkStatus();
  }

  // Parses `{% <keyword> ... %}` whose keyword is consumed (seg_ already
  // advanced past the tag; tokens_ still points at it).
  absl::Status ParseStatement(const std::string& keyword, int line, NodeList* out) {
    auto n = std::make_unique<Node>();
    n->line = line;
    std::string end;
    if (keyword == "if") {
      n->kind = Node::Kind::kIf;
      LLMSERVE_ASSIGN_OR_RETURN(ExprPtr cond, ParseExpression());
      LLMSERVE_RETURN_IF_ERROR(ExpectEnd("'if'"));
      while (true) {
        NodeList body;
        LLMSERVE_RETURN_IF_ERROR(
            WithBlockContext(ParseBody({"elif", "else", "endif"}, &body, &end), "if", line, "endif"));
        n->branches.emplace_back(std::move(cond), std::move(body));
        if (end == "endif") break;
        if (end == "elif") {
          LLMSERVE_ASSIGN_OR_RETURN(cond, ParseExpression());
          LLMSERVE_RETURN_IF_ERROR(ExpectEnd("'elif'"));
        } else {
          LLMSERVE_RETURN_IF_ERROR(ExpectEnd("'else'"));
          ++seg_;
          NodeList else_body;
          LLMSERVE_RETURN_IF_ERROR(
              WithBlockContext(ParseBody({"endif"}, &else_body, &end), "if", line, "endif"));
          n->branches.emplace_back(nullptr, std::move(else_body));
          break;
        }
        ++seg_;
      }
      LLMSERVE_RETURN_IF_ERROR(ExpectEnd("'endif'"));
      ++seg_;
    } else if (keyword == "for") {
      n->kind = Node::Kind::kFor;
      bool parenthesized = AcceptOp("(");
      do {
        LLMSERVE_ASSIGN_OR_RETURN(std::string target, ExpectIdentifier("a loop variable"));
        n->targets.push_back(std::move(target));
      } while (AcceptOp(","));
      if (parenthesized) LLMSERVE_RETURN_IF_ERROR(ExpectOp(")"));
      if (!AcceptName("in")) {
        return ParseError(Peek().line, absl::StrCat("expected 'in' in 'for', got ", Describe(Peek())));
      }
      LLMSERVE_ASSIGN_OR_RETURN(n->expr, ParseOr());
      if (AcceptName("if")) {
        LLMSERVE_ASSIGN_OR_RETURN(n->filter, ParseExpression());
      }
      if (IsName("recursive")) return ParseError(line, "recursive 'for' loops are not supported");
      LLMSERVE_RETURN_IF_ERROR(ExpectEnd("'for'"));
      LLMSERVE_RETURN_IF_ERROR(
          WithBlockContext(ParseBody({"else", "endfor"}, &n->body, &end), "for", line, "endfor"));
      if (end == "else") {
        LLMSERVE_RETURN_IF_ERROR(ExpectEnd("'else'"));
        ++seg_;
        LLMSERVE_RETURN_IF_ERROR(
            WithBlockContext(ParseBody({"endfor"}, &n->else_body, &end), "for", line, "endfor"));
      }
      LLMSERVE_RETURN_IF_ERROR(ExpectEnd("'endfor'"));
      ++seg_;
    } else if (keyword == "set") {
      n->kind = Node::Kind::kSet;
      LLMSERVE_ASSIGN_OR_RETURN(std::string target, ExpectIdentifier("a variable name after 'set'"));
      n->targets.push_back(std::move(target));
      if (AcceptOp(".")) {
        LLMSERVE_ASSIGN_OR_RETURN(n->attr, ExpectIdentifier("an attribute name"));
      } else {
        while (AcceptOp(",")) {
          LLMSERVE_ASSIGN_OR_RETURN(std::string more, ExpectIdentifier("a variable name"));
          n->targets.push_back(std::move(more));
        }
      }
      if (AcceptOp("=")) {
        LLMSERVE_ASSIGN_OR_RETURN(n->expr, ParseTupleOrExpression());
        LLMSERVE_RETURN_IF_ERROR(ExpectEnd("'set'"));
      } else {
        if (!n->attr.empty() || n->targets.size() != 1) {
          return ParseError(line, "block 'set' takes one variable name");
        }
        LLMSERVE_RETURN_IF_ERROR(ExpectEnd("'set' (expected '=')"));
        LLMSERVE_RETURN_IF_ERROR(
            WithBlockContext(ParseBody({"endset"}, &n->body, &end), "set", line, "endset"));
        LLMSERVE_RETURN_IF_ERROR(ExpectEnd("'endset'"));
        ++seg_;
      }
    } else if (keyword == "macro") {
      n->kind = Node::Kind::kMacro;
      LLMSERVE_ASSIGN_OR_RETURN(n->text, ExpectIdentifier("a macro name"));
      LLMSERVE_RETURN_IF_ERROR(ExpectOp("("));
      while (!AcceptOp(")")) {
        LLMSERVE_ASSIGN_OR_RETURN(std::string param, ExpectIdentifier("a macro parameter"));
        ExprPtr def;
        if (AcceptOp("=")) {
          LLMSERVE_ASSIGN_OR_RETURN(def, ParseExpression());
        }
        n->params.emplace_back(std::move(param), std::move(def));
        if (!AcceptOp(",")) {
          LLMSERVE_RETURN_IF_ERROR(ExpectOp(")"));
          break;
        }
      }
      LLMSERVE_RETURN_IF_ERROR(ExpectEnd("'macro'"));
      LLMSERVE_RETURN_IF_ERROR(
          WithBlockContext(ParseBody({"endmacro"}, &n->body, &end), "macro", line, "endmacro"));
      if (Peek().type == Token::Type::kName) Next();  // {% endmacro name %}
      LLMSERVE_RETURN_IF_ERROR(ExpectEnd("'endmacro'"));
      ++seg_;
    } else if (keyword == "generation") {
      n->kind = Node::Kind::kBlock;
      LLMSERVE_RETURN_IF_ERROR(ExpectEnd("'generation'"));
      LLMSERVE_RETURN_IF_ERROR(WithBlockContext(ParseBody({"endgeneration"}, &n->body, &end),
                                                "generation", line, "endgeneration"));
      LLMSERVE_RETURN_IF_ERROR(ExpectEnd("'endgeneration'"));
      ++seg_;
    } else if (keyword == "break" || keyword == "continue") {
      n->kind = keyword == "break" ? Node::Kind::kBreak : Node::Kind::kContinue;
      LLMSERVE_RETURN_IF_ERROR(ExpectEnd("'" + keyword + "'"));
    } else if (keyword == "elif" || keyword == "else" || keyword.rfind("end", 0) == 0) {
      return ParseError(line, absl::StrCat("unexpected '", keyword, "' outside its block"));
    } else {
      return ParseError(line, absl::StrCat("unknown or unsupported tag '", keyword, "'"));
    }
    out->push_back(std::move(n));
    return absl::OkStatus();
  }

  // Rewrites "unexpected end of template" into "'for' at line N is missing 'endfor'".
  absl::Status WithBlockContext(absl::Status s, std::string_view construct, int line,
                                std::string_view end_tag) {
    if (s.ok() || s.message().find("unexpected end of template") == std::string_view::npos) return s;
    return ParseError(line, absl::StrCat("'", std::string(construct), "' is missing '", std::string(end_tag), "'"));
  }

  // ---- expressions ----
  absl::StatusOr<ExprPtr> ParseTupleOrExpression() {
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
    return list;
  }

  absl::StatusOr<ExprPtr> ParseExpression() {
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
      expr = std::move(cond);
    }
    --depth_;
    return expr;
  }

  ExprPtr Binary(std::string op, ExprPtr left, ExprPtr right, int line) {
    auto e = MakeExpr(Expr::Kind::kBinary, line);
    e->name = std::move(op);
    e->children.push_back(std::move(left));
    e->children.push_back(std::move(right));
    return e;
  }

  absl::StatusOr<ExprPtr> ParseOr() {
    LLMSERVE_ASSIGN_OR_RETURN(ExprPtr left, ParseAnd());
    while (IsName("or")) {
      int line = Next().line;
      LLMSERVE_ASSIGN_OR_RETURN(ExprPtr right, ParseAnd());
      left = Binary("or", std::move(left), std::move(right), line);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseAnd() {
    LLMSERVE_ASSIGN_OR_RETURN(ExprPtr left, ParseNot());
    while (IsName("and")) {
      int line = Next().line;
      LLMSERVE_ASSIGN_OR_RETURN(ExprPtr right, ParseNot());
      left = Binary("and", std::move(left), std::move(right), line);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseNot() {
    if (IsName("not")) {
      int line = Next().line;
      LLMSERVE_RETURN_IF_ERROR(Enter(line));
      auto e = MakeExpr(Expr::Kind::kUnary, line);
      e->name = "not";
      LLMSERVE_ASSIGN_OR_RETURN(ExprPtr operand, ParseNot());
      e->children.push_back(std::move(operand));
      --depth_;
      return e;
    }
    return ParseCompare();
  }

  absl::StatusOr<ExprPtr> ParseCompare() {
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
    }
  }

  absl::StatusOr<ExprPtr> ParseMath1() {
    LLMSERVE_ASSIGN_OR_RETURN(ExprPtr left, ParseConcat());
    while (IsOp("+") || IsOp("-")) {
      const Token& t = Next();
      LLMSERVE_ASSIGN_OR_RETURN(ExprPtr right, ParseConcat());
      left = Binary(t.text, std::move(left), std::move(right), t.line);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseConcat() {
    LLMSERVE_ASSIGN_OR_RETURN(ExprPtr left, ParseMath2());
    while (IsOp("~")) {
      int line = Next().line;
      LLMSERVE_ASSIGN_OR_RETURN(ExprPtr right, ParseMath2());
      left = Binary("~", std::move(left), std::move(right), line);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseMath2() {
    LLMSERVE_ASSIGN_OR_RETURN(ExprPtr left, ParsePow());
    while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
      const Token& t = Next();
      LLMSERVE_ASSIGN_OR_RETURN(ExprPtr right, ParsePow());
      left = Binary(t.text, std::move(left), std::move(right), t.line);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParsePow() {
    LLMSERVE_ASSIGN_OR_RETURN(ExprPtr left, ParseUnary(true));
    while (IsOp("**")) {
      int line = Next().line;
      LLMSERVE_ASSIGN_OR_RETURN(ExprPtr right, ParseUnary(true));
      left = Binary("**", std::move(left), std::move(right), line);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseUnary(bool with_filter) {
    ExprPtr node;
    int line = Peek().line;
    LLMSERVE_RETURN_IF_ERROR(Enter(line));
    if (IsOp("-") || IsOp("+")) {
      node = MakeExpr(Expr::Kind::kUnary, line);
      node->name = Next().text;
      LLMSERVE_ASSIGN_OR_RETURN(ExprPtr operand, ParseUnary(false));
      node->children.push_back(std::move(operand));
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

  absl::StatusOr<ExprPtr> ParsePrimary() {
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
          return dict;
        }
        break;
      default:
        break;
    }
    return ParseError(line, absl::StrCat("unexpected ", Describe(t), " in expression"));
  }

  absl::StatusOr<ExprPtr> ParsePostfix(ExprPtr node) {
    while (true) {
      int line = Peek().line;
      if (AcceptOp(".")) {
        if (Peek().type == Token::Type::kInt) {
          auto e = MakeExpr(Expr::Kind::kGetItem, line);
          auto index = MakeExpr(Expr::Kind::kLiteral, line);
          index->value = Value::Int(Next().int_value);
          e->children.push_back(std::move(node));
          e->children.push_back(std::move(index));
          node = std::move(e);
          continue;
        }
        LLMSERVE_ASSIGN_OR_RETURN(std::string attr, ExpectIdentifier("an attribute name after '.'"));
        auto e = MakeExpr(Expr::Kind::kGetAttr, line);
        e->name = std::move(attr);
        e->children.push_back(std::move(node));
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

  absl::StatusOr<ExprPtr> ParseSubscript(ExprPtr node, int line) {
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
    return e;
  }

  // Parses "(args)" into `call` (children[1..] and keyword).
  absl::Status ParseArgs(Expr* call) {
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

  absl::StatusOr<ExprPtr> ParseCall(ExprPtr callee) {
    auto e = MakeExpr(Expr::Kind::kCall, Peek().line);
    e->children.push_back(std::move(callee));
    LLMSERVE_RETURN_IF_ERROR(ParseArgs(e.get()));
    return e;
  }

  absl::StatusOr<ExprPtr> ParseFilterExpr(ExprPtr node) {
    while (true) {
      int line = Peek().line;
      if (AcceptOp("|")) {
        auto e = MakeExpr(Expr::Kind::kFilter, line);
        LLMSERVE_ASSIGN_OR_RETURN(e->name, ExpectIdentifier("a filter name after '|'"));
        e->children.push_back(std::move(node));
        if (IsOp("(")) LLMSERVE_RETURN_IF_ERROR(ParseArgs(e.get()));
        node = std::move(e);
      } else if (AcceptName("is")) {
        auto e = MakeExpr(Expr::Kind::kTest, line);
        e->negated = AcceptName("not");
        LLMSERVE_ASSIGN_OR_RETURN(e->name, ExpectIdentifier("a test name after 'is'"));
        e->children.push_back(std::move(node));
        const Token& t = Peek();
        if (IsOp("(")) {
          LLMSERVE_RETURN_IF_ERROR(ParseArgs(e.get()));
        } else if ((t.type == Token::Type::kName && t.text != "else" && t.text != "or" &&
                    t.text != "and" && t.text != "if" && t.text != "is") ||
                   t.type == Token::Type::kString || t.type == Token::Type::kInt ||
                   t.type == Token::Type::kFloat || IsOp("[") || IsOp("{")) {
          LLMSERVE_ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());
          LLMSERVE_ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
          e->children.push_back(std::move(arg));
        }
        node = std::move(e);
      } else if (IsOp("(")) {
        LLMSERVE_ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
      } else {
        return node;
      }
    }
  }

  std::vector<Segment> segments_;
  size_t seg_ = 0;
  const std::vector<Token>* tokens_ = nullptr;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

absl::StatusOr<NodeList> ParseTemplate(std::string_view source) {
  LLMSERVE_ASSIGN_OR_RETURN(std::vector<Segment> segments, LexTemplate(source));
  Parser parser(std::move(segments));
  return parser.ParseAll();
}

}  // namespace llmserve::chat_template
