#ifndef LLMSERVE_ENGINE_CHAT_TEMPLATE_AST_H_
#define LLMSERVE_ENGINE_CHAT_TEMPLATE_AST_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/chat_template/value.h"

namespace llmserve::chat_template {

/// An expression node of the template AST (Jinja2's expression grammar:
/// https://jinja.palletsprojects.com/en/3.1.x/templates/#expressions).
struct Expr {
  enum class Kind {
    kLiteral,      // value
    kName,         // name
    kList,         // children: items
    kTuple,        // children: items, a (a, b) literal
    kDict,         // children: key0, value0, key1, value1, ...
    kGetAttr,      // children[0].name
    kGetItem,      // children[0][children[1]]
    kSlice,        // children[0][children[1]:children[2]:children[3]] (null = omitted)
    kCall,         // children[0](children[1..], keyword)
    kFilter,       // children[0] | name(children[1..], keyword)
    kTest,         // children[0] is [not] name(children[1..])
    kUnary,        // name ("not", "-", "+") children[0]
    kBinary,       // children[0] name children[1]; name is the operator
    kConditional,  // children[0] if children[1] else children[2] (null = undefined)
  };
  Kind kind = Kind::kLiteral;
  int line = 1;
  Value value;
  std::string name;
  bool negated = false;  // kTest: `is not`
  int depth = 1;         // height of this subtree (parser.h bounds it)
  std::vector<std::unique_ptr<Expr>> children;
  std::vector<std::pair<std::string, std::unique_ptr<Expr>>> keyword;
};

/// A statement node (Jinja2's control structures:
/// https://jinja.palletsprojects.com/en/3.1.x/templates/#list-of-control-structures).
struct Node {
  enum class Kind {
    kText,      // text
    kOutput,    // {{ expr }}
    kIf,        // branches: (condition, body); a null condition is `else`
    kFor,       // for targets in expr [if filter] body [else else_body]
    kSet,       // set targets[0][.attr] = expr, or block set with body
    kMacro,     // macro name(params) body
    kBreak,
    kContinue,
    kBlock,     // a transparent body ({% generation %})
  };
  Kind kind = Kind::kText;
  int line = 1;
  std::string text;
  std::unique_ptr<Expr> expr;
  std::unique_ptr<Expr> filter;
  std::vector<std::string> targets;
  std::string attr;
  std::vector<std::unique_ptr<Node>> body;
  std::vector<std::unique_ptr<Node>> else_body;
  std::vector<std::pair<std::unique_ptr<Expr>, std::vector<std::unique_ptr<Node>>>> branches;
  /// Macro parameters: (name, default expression or null).
  std::vector<std::pair<std::string, std::unique_ptr<Expr>>> params;
};

using NodeList = std::vector<std::unique_ptr<Node>>;

}  // namespace llmserve::chat_template

#endif  // LLMSERVE_ENGINE_CHAT_TEMPLATE_AST_H_
