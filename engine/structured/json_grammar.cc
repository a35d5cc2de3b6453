#include "engine/structured/json_grammar.h"

#include "nlohmann/json.hpp"

namespace llmserve::structured {

Expr JsonWs() { return Optional(Literal(" ")); }

Expr JsonStringChar() {
  // Unescaped: U+0020..U+10FFFF except '"' (0x22) and '\' (0x5C).
  Expr plain = CodepointSet({{0x20, 0x21}, {0x23, 0x5B}, {0x5D, 0x10FFFF}});
  ByteSet simple;
  for (char c : std::string_view("\"\\/bfnrt")) simple.set(static_cast<uint8_t>(c));
  ByteSet hex;
  for (int c = '0'; c <= '9'; ++c) hex.set(c);
  for (int c = 'a'; c <= 'f'; ++c) hex.set(c);
  for (int c = 'A'; c <= 'F'; ++c) hex.set(c);
  Expr escape = Seq({Literal("\\"), Alt({Bytes(simple), Seq({Literal("u"), Repeat(Bytes(hex), 4, 4)})})});
  return Alt({std::move(plain), std::move(escape)});
}

Expr JsonStringLiteral(std::string_view value) {
  return Literal(nlohmann::json(std::string(value)).dump(-1, ' ', false,
                                                        nlohmann::json::error_handler_t::replace));
}

JsonRules AddJsonRules(Grammar* g) {
  JsonRules r;
  r.value = g->AddRule("json-value");
  r.object = g->AddRule("json-object");
  r.array = g->AddRule("json-array");
  r.string = g->AddRule("json-string");
  r.number = g->AddRule("json-number");
  r.integer = g->AddRule("json-integer");
  r.boolean = g->AddRule("json-boolean");
  r.null = g->AddRule("json-null");
  int chars = g->AddRule("json-chars");
  // chars ::= [plain ASCII]* (char chars)?  — the common ASCII run is one
  // byte-set star, so most string tokens stay inside one position.
  ByteSet ascii;
  for (int c = 0x20; c < 0x80; ++c) {
    if (c != '"' && c != '\\') ascii.set(c);
  }
  g->SetBody(chars, Seq({Repeat(Bytes(ascii), 0, -1), Optional(Seq({JsonStringChar(), Ref(chars)}))}));
  g->SetBody(r.string, Seq({Literal("\""), Ref(chars), Literal("\"")}));
  Expr digits = Repeat(ByteRange('0', '9'), 0, -1);
  Expr int_part = Seq({Optional(Literal("-")), Alt({Literal("0"), Seq({ByteRange('1', '9'), digits})})});
  g->SetBody(r.integer, int_part);
  ByteSet e;
  e.set('e');
  e.set('E');
  ByteSet sign;
  sign.set('+');
  sign.set('-');
  g->SetBody(r.number,
             Seq({int_part, Optional(Seq({Literal("."), Repeat(ByteRange('0', '9'), 1, -1)})),
                  Optional(Seq({Bytes(e), Optional(Bytes(sign)), Repeat(ByteRange('0', '9'), 1, -1)}))}));
  g->SetBody(r.boolean, Alt({Literal("true"), Literal("false")}));
  g->SetBody(r.null, Literal("null"));
  Expr member = Seq({Ref(r.string), JsonWs(), Literal(":"), JsonWs(), Ref(r.value), JsonWs()});
  g->SetBody(r.object,
             Seq({Literal("{"), JsonWs(),
                  Optional(Seq({member, Repeat(Seq({Literal(","), JsonWs(), member}), 0, -1)})),
                  Literal("}")}));
  Expr item = Seq({Ref(r.value), JsonWs()});
  g->SetBody(r.array, Seq({Literal("["), JsonWs(),
                           Optional(Seq({item, Repeat(Seq({Literal(","), JsonWs(), item}), 0, -1)})),
                           Literal("]")}));
  g->SetBody(r.value, Alt({Ref(r.object), Ref(r.array), Ref(r.string), Ref(r.number), Ref(r.boolean),
                           Ref(r.null)}));
  return r;
}

Grammar JsonObjectGrammar() {
  Grammar g;
  int root = g.AddRule("root");
  JsonRules r = AddJsonRules(&g);
  g.SetBody(root, Ref(r.object));
  g.set_root(root);
  return g;
}

}  // namespace llmserve::structured
