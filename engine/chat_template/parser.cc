#include "engine/chat_template/parser.h"

#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/chat_template/expr_parser.h"
#include "engine/chat_template/lexer.h"
#include "engine/common/status_macros.h"

namespace llmserve::chat_template {
namespace {

// The statement grammar over the lexer's segments; expressions inside each
// tag are parsed by ExprParser.
class Parser : public ExprParser {
 public:
  explicit Parser(std::vector<Segment> segments) : segments_(std::move(segments)) {}

  absl::StatusOr<NodeList> ParseAll() {
    NodeList nodes;
    std::string end;
    LLMSERVE_RETURN_IF_ERROR(ParseBody({}, &nodes, &end));
    return nodes;
  }

 private:
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
      SetTokens(&s.tokens);
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
      if (!ends.empty() && (keyword == "elif" || keyword == "else" || keyword.rfind("end", 0) == 0)) {
        // Another block's closing tag: the innermost open block is unclosed.
        return ParseError(s.line, absl::StrCat("unexpected end of block, found '", keyword,
                                               "' at line ", s.line));
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
  // advanced past the tag; the cursor is still on its tokens).
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
      ++loop_depth_;
      absl::Status body = ParseBody({"else", "endfor"}, &n->body, &end);
      --loop_depth_;
      LLMSERVE_RETURN_IF_ERROR(WithBlockContext(body, "for", line, "endfor"));
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
      const int enclosing_loops = loop_depth_;
      loop_depth_ = 0;  // a macro body is not inside the caller's loop
      absl::Status body = ParseBody({"endmacro"}, &n->body, &end);
      loop_depth_ = enclosing_loops;
      LLMSERVE_RETURN_IF_ERROR(WithBlockContext(body, "macro", line, "endmacro"));
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
      if (loop_depth_ == 0) return ParseError(line, absl::StrCat("'", keyword, "' outside a 'for' loop"));
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
    if (s.ok()) return s;
    std::string missing = absl::StrCat("'", std::string(construct), "' is missing '", std::string(end_tag), "'");
    if (s.message().find("unexpected end of template") != absl::string_view::npos) {
      return ParseError(line, missing);
    }
    const size_t found = s.message().find("unexpected end of block, found ");
    if (found != absl::string_view::npos) {
      return ParseError(line, absl::StrCat(missing, " (found ",
                                           s.message().substr(found + 31), ")"));
    }
    return s;
  }


  std::vector<Segment> segments_;
  size_t seg_ = 0;
  int loop_depth_ = 0;  // enclosing `for` bodies (break / continue need one)
};

}  // namespace

absl::StatusOr<NodeList> ParseTemplate(std::string_view source) {
  LLMSERVE_ASSIGN_OR_RETURN(std::vector<Segment> segments, LexTemplate(source));
  Parser parser(std::move(segments));
  return parser.ParseAll();
}

}  // namespace llmserve::chat_template
