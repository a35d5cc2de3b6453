#include "engine/chat_template/evaluator.h"

#include <cmath>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/chat_template/builtins.h"
#include "engine/chat_template/operators.h"
#include "engine/common/status_macros.h"

namespace llmserve::chat_template {
namespace {

absl::Status AtLine(int line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("chat template line ", line, ": ", what));
}

// Prefixes a builtin's error with the line.
absl::Status WithLine(int line, const absl::Status& s) {
  if (s.ok()) return s;
  return AtLine(line, s.message());
}

absl::Status UndefinedError(int line, const Value& v) {
  return AtLine(line, v.str().empty() ? "value is undefined" : v.str());
}

enum class Flow { kNormal, kBreak, kContinue };

using Scope = std::unordered_map<std::string, Value>;

class Evaluator {
 public:
  Evaluator(const Dict& globals, const RenderLimits& limits) : limits_(limits) {
    auto root = std::make_shared<Scope>();
    for (const auto& [k, v] : globals.items) (*root)[k] = v;
    scopes_.push_back(std::move(root));
    scopes_.push_back(std::make_shared<Scope>());  // the template's own top-level scope
  }

  absl::StatusOr<std::string> Run(const NodeList& nodes) {
    std::string out;
    out_ = &out;
    LLMSERVE_ASSIGN_OR_RETURN(Flow flow, ExecList(nodes));
    (void)flow;  // the parser allows break / continue only inside a loop body
    return out;
  }

 private:
  // Counts one level of the evaluator's recursion for the scope of a call.
  class DepthGuard {
   public:
    explicit DepthGuard(Evaluator* e) : e_(e) { ++e_->depth_; }
    ~DepthGuard() { --e_->depth_; }

   private:
    Evaluator* e_;
  };

  absl::Status Tick(int line) {
    if (depth_ > limits_.max_depth) {
      return AtLine(line, absl::StrCat("evaluation nested deeper than ", limits_.max_depth, " levels"));
    }
    if (++steps_ > limits_.max_steps) {
      return AtLine(line, absl::StrCat("render exceeded ", limits_.max_steps, " evaluation steps"));
    }
    return absl::OkStatus();
  }

  absl::Status Emit(int line, std::string_view s) {
    if (out_->size() + s.size() > limits_.max_bytes) {
      return AtLine(line, absl::StrCat("output exceeds ", limits_.max_bytes, " bytes"));
    }
    out_->append(s);
    return absl::OkStatus();
  }

  Value Lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto found = (*it)->find(name);
      if (found != (*it)->end()) return found->second;
    }
    return Value::Undefined(absl::StrCat("'", name, "' is undefined"));
  }

  void Assign(const std::string& name, Value v) { (*scopes_.back())[name] = std::move(v); }

  absl::Status Bind(const std::vector<std::string>& targets, const Value& v, int line) {
    if (targets.size() == 1) {
      Assign(targets[0], v);
      return absl::OkStatus();
    }
    absl::StatusOr<List> listed = Iterate(v);
    if (!listed.ok()) return WithLine(line, listed.status());
    const List& items = *listed;
    if (items.size() != targets.size()) {
      return AtLine(line, absl::StrCat("cannot unpack ", items.size(), " values into ", targets.size(),
                                       " names"));
    }
    for (size_t i = 0; i < targets.size(); ++i) Assign(targets[i], items[i]);
    return absl::OkStatus();
  }

  // ---- statements ----
  absl::StatusOr<Flow> ExecList(const NodeList& nodes) {
    for (const auto& node : nodes) {
      LLMSERVE_ASSIGN_OR_RETURN(Flow flow, Exec(*node));
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

  absl::StatusOr<Flow> Exec(const Node& n) {
    DepthGuard depth(this);
    LLMSERVE_RETURN_IF_ERROR(Tick(n.line));
    switch (n.kind) {
      case Node::Kind::kText:
        LLMSERVE_RETURN_IF_ERROR(Emit(n.line, n.text));
        return Flow::kNormal;
      case Node::Kind::kOutput: {
        LLMSERVE_ASSIGN_OR_RETURN(Value v, Eval(*n.expr));
        LLMSERVE_RETURN_IF_ERROR(Emit(n.line, v.ToString()));
        return Flow::kNormal;
      }
      case Node::Kind::kIf:
        for (const auto& [cond, body] : n.branches) {
          bool take = true;
          if (cond != nullptr) {
            LLMSERVE_ASSIGN_OR_RETURN(Value c, Eval(*cond));
            take = c.Truthy();
          }
          if (take) return ExecList(body);
        }
        return Flow::kNormal;
      case Node::Kind::kFor:
        LLMSERVE_RETURN_IF_ERROR(ExecFor(n));
        return Flow::kNormal;
      case Node::Kind::kSet:
        LLMSERVE_RETURN_IF_ERROR(ExecSet(n));
        return Flow::kNormal;
      case Node::Kind::kMacro:
        DefineMacro(n);
        return Flow::kNormal;
      case Node::Kind::kBreak:
        return Flow::kBreak;
      case Node::Kind::kContinue:
        return Flow::kContinue;
      case Node::Kind::kBlock:
        return ExecList(n.body);
    }
    return Flow::kNormal;
  }

  // Pushes a scope for a loop; Reset() replaces it with a fresh one; popped
  // at the latest on destruction (also on an error return).
  class ScopeGuard {
   public:
    explicit ScopeGuard(Evaluator* e) : e_(e) { e_->scopes_.push_back(std::make_shared<Scope>()); }
    ~ScopeGuard() { Pop(); }
    void Reset() { e_->scopes_.back() = std::make_shared<Scope>(); }
    void Pop() {
      if (!popped_) e_->scopes_.pop_back();
      popped_ = true;
    }

   private:
    Evaluator* e_;
    bool popped_ = false;
  };

  absl::Status ExecFor(const Node& n) {
    LLMSERVE_ASSIGN_OR_RETURN(Value iterable, Eval(*n.expr));
    absl::StatusOr<List> listed = Iterate(iterable);
    if (!listed.ok()) return WithLine(n.line, listed.status());
    List items = *std::move(listed);
    // Each iteration runs in a fresh scope (Jinja2: what the body sets does
    // not carry over to the next iteration nor out of the loop).
    ScopeGuard guard(this);
    if (n.filter != nullptr) {
      List kept;
      for (const Value& item : items) {
        LLMSERVE_RETURN_IF_ERROR(Tick(n.line));
        guard.Reset();
        LLMSERVE_RETURN_IF_ERROR(Bind(n.targets, item, n.line));
        LLMSERVE_ASSIGN_OR_RETURN(Value keep, Eval(*n.filter));
        if (keep.Truthy()) kept.push_back(item);
      }
      items = std::move(kept);
    }
    const int64_t length = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < length; ++i) {
      LLMSERVE_RETURN_IF_ERROR(Tick(n.line));
      const Value& item = items[static_cast<size_t>(i)];
      guard.Reset();
      LLMSERVE_RETURN_IF_ERROR(Bind(n.targets, item, n.line));
      Dict loop;
      loop.Set("index", Value::Int(i + 1));
      loop.Set("index0", Value::Int(i));
      loop.Set("revindex", Value::Int(length - i));
      loop.Set("revindex0", Value::Int(length - i - 1));
      loop.Set("first", Value::Bool(i == 0));
      loop.Set("last", Value::Bool(i == length - 1));
      loop.Set("length", Value::Int(length));
      loop.Set("depth", Value::Int(1));
      loop.Set("depth0", Value::Int(0));
      if (i > 0) loop.Set("previtem", items[static_cast<size_t>(i - 1)]);
      if (i + 1 < length) loop.Set("nextitem", items[static_cast<size_t>(i + 1)]);
      loop.Set("cycle", Value::MakeFunction("cycle", [i](const CallArgs& args) -> absl::StatusOr<Value> {
        if (args.positional.empty()) return absl::InvalidArgumentError("loop.cycle: no items given");
        return args.positional[static_cast<size_t>(i) % args.positional.size()];
      }));
      Assign("loop", Value::MakeDict(std::move(loop)));
      LLMSERVE_ASSIGN_OR_RETURN(Flow flow, ExecList(n.body));
      if (flow == Flow::kBreak) break;
    }
    guard.Pop();
    if (length == 0 && !n.else_body.empty()) {
      LLMSERVE_ASSIGN_OR_RETURN(Flow flow, ExecList(n.else_body));
      (void)flow;
    }
    return absl::OkStatus();
  }

  absl::Status ExecSet(const Node& n) {
    Value v;
    if (n.expr != nullptr) {
      LLMSERVE_ASSIGN_OR_RETURN(v, Eval(*n.expr));
    } else {
      LLMSERVE_ASSIGN_OR_RETURN(std::string captured, Capture(n.body));
      v = Value::String(std::move(captured));
    }
    if (!n.attr.empty()) {
      Value target = Lookup(n.targets[0]);
      if (!target.is_dict() || !target.dict().is_namespace) {
        return AtLine(n.line, absl::StrCat("cannot assign attribute '", n.attr, "' on non-namespace object '",
                                           n.targets[0], "'"));
      }
      target.mutable_dict().Set(n.attr, std::move(v));
      return absl::OkStatus();
    }
    return Bind(n.targets, v, n.line);
  }

  // Executes `body` into a fresh buffer.
  absl::StatusOr<std::string> Capture(const NodeList& body) {
    std::string buffer;
    std::string* saved = out_;
    out_ = &buffer;
    absl::StatusOr<Flow> flow = ExecList(body);
    out_ = saved;
    if (!flow.ok()) return flow.status();
    return buffer;
  }

  void DefineMacro(const Node& n) {
    const Node* macro = &n;
    Assign(n.text, Value::MakeFunction(n.text, [this, macro](const CallArgs& args) {
      return CallMacro(*macro, args);
    }));
  }

  absl::StatusOr<Value> CallMacro(const Node& m, const CallArgs& args) {
    if (call_depth_ >= limits_.max_call_depth) {
      return AtLine(m.line, absl::StrCat("macro calls nested deeper than ", limits_.max_call_depth));
    }
    if (args.positional.size() > m.params.size()) {
      return AtLine(m.line, absl::StrCat("macro '", m.text, "' takes ", m.params.size(),
                                         " arguments, got ", args.positional.size()));
    }
    // The macro sees the globals and the template's top level, not the caller's locals.
    std::vector<std::shared_ptr<Scope>> saved = scopes_;
    scopes_.resize(2);
    scopes_.push_back(std::make_shared<Scope>());
    ++call_depth_;
    absl::Status status;
    for (size_t i = 0; i < m.params.size() && status.ok(); ++i) {
      const auto& [name, def] = m.params[i];
      Value v = Value::Undefined(absl::StrCat("'", name, "' is undefined"));
      bool given = false;
      for (const auto& [k, kv] : args.keyword) {
        if (k == name) {
          v = kv;
          given = true;
        }
      }
      if (!given && i < args.positional.size()) {
        v = args.positional[i];
      } else if (!given && def != nullptr) {
        absl::StatusOr<Value> d = Eval(*def);
        if (!d.ok()) status = d.status();
        else v = *d;
      }
      Assign(name, std::move(v));
    }
    absl::StatusOr<std::string> text = status.ok() ? Capture(m.body) : absl::StatusOr<std::string>(status);
    --call_depth_;
    scopes_ = std::move(saved);
    if (!text.ok()) return text.status();
    return Value::String(*std::move(text));
  }

  // ---- expressions ----
  absl::Status CheckSize(int line, const Value& v) {
    size_t bytes = v.is_string() ? v.str().size() : v.is_list() ? v.list().size() : 0;
    if (bytes > limits_.max_bytes) return AtLine(line, absl::StrCat("value exceeds ", limits_.max_bytes, " bytes"));
    return absl::OkStatus();
  }

  absl::StatusOr<CallArgs> EvalArgs(const Expr& e, size_t first) {
    CallArgs args;
    for (size_t i = first; i < e.children.size(); ++i) {
      LLMSERVE_ASSIGN_OR_RETURN(Value v, Eval(*e.children[i]));
      args.positional.push_back(std::move(v));
    }
    for (const auto& [name, expr] : e.keyword) {
      LLMSERVE_ASSIGN_OR_RETURN(Value v, Eval(*expr));
      args.keyword.emplace_back(name, std::move(v));
    }
    return args;
  }

  absl::StatusOr<Value> Eval(const Expr& e) {
    DepthGuard depth(this);
    LLMSERVE_RETURN_IF_ERROR(Tick(e.line));
    switch (e.kind) {
      case Expr::Kind::kLiteral:
        return e.value;
      case Expr::Kind::kName:
        return Lookup(e.name);
      case Expr::Kind::kList:
      case Expr::Kind::kTuple: {
        List items;
        for (const auto& child : e.children) {
          LLMSERVE_ASSIGN_OR_RETURN(Value v, Eval(*child));
          items.push_back(std::move(v));
        }
        return e.kind == Expr::Kind::kTuple ? Value::MakeTuple(std::move(items))
                                            : Value::MakeList(std::move(items));
      }
      case Expr::Kind::kDict: {
        Dict d;
        for (size_t i = 0; i + 1 < e.children.size(); i += 2) {
          LLMSERVE_ASSIGN_OR_RETURN(Value k, Eval(*e.children[i]));
          LLMSERVE_ASSIGN_OR_RETURN(Value v, Eval(*e.children[i + 1]));
          if (!k.is_string()) return AtLine(e.line, "dict keys must be strings");
          d.Set(k.str(), std::move(v));
        }
        return Value::MakeDict(std::move(d));
      }
      case Expr::Kind::kGetAttr: {
        LLMSERVE_ASSIGN_OR_RETURN(Value obj, Eval(*e.children[0]));
        if (obj.is_undefined()) return UndefinedError(e.line, obj);
        return GetAttribute(obj, e.name);
      }
      case Expr::Kind::kGetItem: {
        LLMSERVE_ASSIGN_OR_RETURN(Value obj, Eval(*e.children[0]));
        if (obj.is_undefined()) return UndefinedError(e.line, obj);
        LLMSERVE_ASSIGN_OR_RETURN(Value key, Eval(*e.children[1]));
        return GetItem(obj, key);
      }
      case Expr::Kind::kSlice:
        return EvalSlice(e);
      case Expr::Kind::kCall: {
        LLMSERVE_ASSIGN_OR_RETURN(Value callee, Eval(*e.children[0]));
        if (callee.is_undefined()) return UndefinedError(e.line, callee);
        if (!callee.is_function()) return AtLine(e.line, absl::StrCat("'", callee.TypeName(), "' object is not callable"));
        LLMSERVE_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1));
        absl::StatusOr<Value> result = callee.function()(args);
        if (!result.ok()) {
          // raise_exception's message and macro errors pass through as they are.
          if (callee.str() == "raise_exception" || result.status().message().rfind("chat template", 0) == 0) {
            return result.status();
          }
          return WithLine(e.line, result.status());
        }
        LLMSERVE_RETURN_IF_ERROR(CheckSize(e.line, *result));
        return result;
      }
      case Expr::Kind::kFilter: {
        LLMSERVE_ASSIGN_OR_RETURN(Value input, Eval(*e.children[0]));
        LLMSERVE_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1));
        absl::StatusOr<Value> result = ApplyFilter(e.name, input, args);
        if (!result.ok()) return WithLine(e.line, result.status());
        LLMSERVE_RETURN_IF_ERROR(CheckSize(e.line, *result));
        return result;
      }
      case Expr::Kind::kTest: {
        LLMSERVE_ASSIGN_OR_RETURN(Value input, Eval(*e.children[0]));
        LLMSERVE_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1));
        absl::StatusOr<bool> result = ApplyTest(e.name, input, args);
        if (!result.ok()) return WithLine(e.line, result.status());
        return Value::Bool(*result != e.negated);
      }
      case Expr::Kind::kUnary: {
        LLMSERVE_ASSIGN_OR_RETURN(Value v, Eval(*e.children[0]));
        if (e.name == "not") return Value::Bool(!v.Truthy());
        if (v.is_undefined()) return UndefinedError(e.line, v);
        if (!v.is_number()) return AtLine(e.line, absl::StrCat("bad operand type for unary ", e.name, ": '", v.TypeName(), "'"));
        if (e.name == "+") return v.is_float() ? v : Value::Int(v.as_int());
        if (v.is_float()) return Value::Float(-v.as_float());
        return Value::Int(-v.as_int());
      }
      case Expr::Kind::kBinary: {
        LLMSERVE_ASSIGN_OR_RETURN(Value left, Eval(*e.children[0]));
        if (e.name == "and") return left.Truthy() ? Eval(*e.children[1]) : left;
        if (e.name == "or") return left.Truthy() ? left : Eval(*e.children[1]);
        LLMSERVE_ASSIGN_OR_RETURN(Value right, Eval(*e.children[1]));
        absl::StatusOr<Value> result = BinaryOp(e.name, left, right, limits_.max_bytes);
        if (!result.ok()) return WithLine(e.line, result.status());
        return result;
      }
      case Expr::Kind::kConditional: {
        LLMSERVE_ASSIGN_OR_RETURN(Value cond, Eval(*e.children[1]));
        if (cond.Truthy()) return Eval(*e.children[0]);
        if (e.children[2] != nullptr) return Eval(*e.children[2]);
        return Value::Undefined("the conditional expression's value is undefined");
      }
    }
    return AtLine(e.line, "unknown expression");
  }

  absl::StatusOr<Value> EvalSlice(const Expr& e) {
    LLMSERVE_ASSIGN_OR_RETURN(Value obj, Eval(*e.children[0]));
    if (obj.is_undefined()) return UndefinedError(e.line, obj);
    std::optional<int64_t> bounds[3];
    for (int i = 0; i < 3; ++i) {
      if (e.children[static_cast<size_t>(i) + 1] == nullptr) continue;
      LLMSERVE_ASSIGN_OR_RETURN(Value v, Eval(*e.children[static_cast<size_t>(i) + 1]));
      if (v.is_none()) continue;
      if (!v.is_number() || v.is_float()) return AtLine(e.line, "slice indices must be integers or None");
      bounds[i] = v.as_int();
    }
    absl::StatusOr<Value> result = Slice(obj, bounds[0], bounds[1], bounds[2]);
    if (!result.ok()) return WithLine(e.line, result.status());
    return result;
  }

  RenderLimits limits_;
  std::vector<std::shared_ptr<Scope>> scopes_;
  std::string* out_ = nullptr;
  int64_t steps_ = 0;
  int call_depth_ = 0;
  int depth_ = 0;
};

absl::Status CheckExpr(const Expr& e) {
  if (e.kind == Expr::Kind::kFilter && !IsKnownFilter(e.name)) {
    return AtLine(e.line, absl::StrCat("no filter named '", e.name, "'"));
  }
  if (e.kind == Expr::Kind::kTest && !IsKnownTest(e.name)) {
    return AtLine(e.line, absl::StrCat("no test named '", e.name, "'"));
  }
  for (const auto& c : e.children) {
    if (c != nullptr) LLMSERVE_RETURN_IF_ERROR(CheckExpr(*c));
  }
  for (const auto& [unused, c] : e.keyword) LLMSERVE_RETURN_IF_ERROR(CheckExpr(*c));
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckNames(const NodeList& nodes) {
  for (const auto& n : nodes) {
    for (const Expr* e : {n->expr.get(), n->filter.get()}) {
      if (e != nullptr) LLMSERVE_RETURN_IF_ERROR(CheckExpr(*e));
    }
    for (const auto& [cond, body] : n->branches) {
      if (cond != nullptr) LLMSERVE_RETURN_IF_ERROR(CheckExpr(*cond));
      LLMSERVE_RETURN_IF_ERROR(CheckNames(body));
    }
    for (const auto& [unused, def] : n->params) {
      if (def != nullptr) LLMSERVE_RETURN_IF_ERROR(CheckExpr(*def));
    }
    LLMSERVE_RETURN_IF_ERROR(CheckNames(n->body));
    LLMSERVE_RETURN_IF_ERROR(CheckNames(n->else_body));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RenderNodes(const NodeList& nodes, const Dict& globals,
                                        const RenderLimits& limits) {
  Evaluator evaluator(globals, limits);
  return evaluator.Run(nodes);
}

}  // namespace llmserve::chat_template
