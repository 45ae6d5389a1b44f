import json, sys, base64, io, httpx
base = sys.argv[1].rstrip("/")
if base.endswith("/v1"): base = base[:-3]
c = httpx.Client(base_url=base, timeout=120)
M = "cpu-tiny"
SCHEMA = {"type": "object", "properties": {"city": {"enum": ["Paris", "Oslo", "Lima"]}, "rainy": {"type": "boolean"}},
          "required": ["city", "rainy"], "additionalProperties": False}
def tool(name, strict=None, schema=SCHEMA):
    f = {"name": name, "description": "d", "parameters": schema}
    if strict is not None: f["strict"] = strict
    return {"type": "function", "function": f}
def chat(**kw):
    b = {"model": M, "messages": [{"role": "user", "content": "What is the weather in Paris?"}], "max_tokens": 200, "temperature": 0}
    b.update(kw)
    return b
def show(label, r):
    print("=====", label, r.status_code)
    print(r.text[:1500])
def post(label, path, body):
    r = c.post(path, json=body); show(label, r); return r
def stream(label, path, body):
    body = {**body, "stream": True}
    with c.stream("POST", path, json=body) as r:
        print("=====", label, r.status_code)
        for line in r.iter_lines():
            if line: print("   ", line[:400])
named = {"type": "function", "function": {"name": "get_weather"}}
post("named nonstrict", "/v1/chat/completions", chat(tools=[tool("get_weather")], tool_choice=named))
post("named strict", "/v1/chat/completions", chat(tools=[tool("get_weather", True)], tool_choice=named))
post("required strict 2 tools", "/v1/chat/completions", chat(tools=[tool("get_weather", True), tool("get_time", True)], tool_choice="required"))
post("required strict 2 tools no parallel", "/v1/chat/completions", chat(tools=[tool("get_weather", True), tool("get_time", True)], tool_choice="required", parallel_tool_calls=False))
stream("named strict stream", "/v1/chat/completions", chat(tools=[tool("get_weather", True)], tool_choice=named))
stream("required stream", "/v1/chat/completions", chat(tools=[tool("get_weather", True), tool("get_time", True)], tool_choice="required"))
RX = r'<tool_call>\{"name":"get_weather","arguments":\{"city":"(Paris|Oslo)","rainy":(true|false)\}\}</tool_call>'
post("auto regex", "/v1/chat/completions", chat(tools=[tool("get_weather")], tool_choice="auto", structured_outputs={"regex": RX}))
stream("auto regex stream", "/v1/chat/completions", chat(tools=[tool("get_weather")], tool_choice="auto", structured_outputs={"regex": RX}))
RX2 = r'<tool_call>\{"name":"get_weather","arguments":\{"city":"Paris","rainy":true\}\}</tool_call><tool_call>\{"name":"get_time","arguments":\{"city":"Oslo","rainy":false\}\}</tool_call>'
stream("auto regex parallel stream", "/v1/chat/completions", chat(tools=[tool("get_weather"), tool("get_time")], tool_choice="auto", structured_outputs={"regex": RX2}))
post("auto regex parallel", "/v1/chat/completions", chat(tools=[tool("get_weather"), tool("get_time")], tool_choice="auto", structured_outputs={"regex": RX2}))
post("none", "/v1/chat/completions", chat(tools=[tool("get_weather")], tool_choice="none", max_tokens=8))
post("auto plain", "/v1/chat/completions", chat(tools=[tool("get_weather")], tool_choice="auto", max_tokens=8))
conv = [{"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\", \"rainy\": true}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 12}"}]
post("tool result", "/v1/chat/completions", chat(tools=[tool("get_weather")], messages=conv, max_tokens=8))
post("bad: params string", "/v1/chat/completions", chat(tools=[tool("get_weather", schema="nope")], tool_choice="required"))
post("bad: params not object schema", "/v1/chat/completions", chat(tools=[tool("get_weather", schema={"type": "string"})], tool_choice="required", max_tokens=30))
post("bad: duplicate names", "/v1/chat/completions", chat(tools=[tool("get_weather"), tool("get_weather")], tool_choice="required", max_tokens=30))
post("bad: unknown function", "/v1/chat/completions", chat(tools=[tool("get_weather")], tool_choice={"type": "function", "function": {"name": "nope"}}))
post("bad: tool_choice no tools", "/v1/chat/completions", chat(tool_choice="required"))
# Anthropic
A = {"model": M, "max_tokens": 12, "temperature": 0, "messages": [{"role": "user", "content": "Hello there"}]}
post("msg", "/v1/messages", A)
post("chat same", "/v1/chat/completions", {"model": M, "max_tokens": 12, "temperature": 0, "messages": [{"role": "user", "content": "Hello there"}]})
stream("msg stream", "/v1/messages", A)
post("msg count", "/v1/messages/count_tokens", {"model": M, "messages": A["messages"]})
post("tokenize", "/tokenize", {"model": M, "messages": A["messages"]})
post("msg bad model", "/v1/messages", {**A, "model": "nope"})
post("msg no max_tokens", "/v1/messages", {k: v for k, v in A.items() if k != "max_tokens"})
post("msg neg max_tokens", "/v1/messages", {**A, "max_tokens": -1})
post("msg big max_tokens", "/v1/messages", {**A, "max_tokens": 100000})
post("msg tool", "/v1/messages", {**A, "max_tokens": 200, "tools": [{"name": "get_weather", "description": "d", "input_schema": SCHEMA, "strict": True}], "tool_choice": {"type": "tool", "name": "get_weather"}})
stream("msg tool stream", "/v1/messages", {**A, "max_tokens": 200, "tools": [{"name": "get_weather", "description": "d", "input_schema": SCHEMA, "strict": True}], "tool_choice": {"type": "tool", "name": "get_weather"}})
from PIL import Image
def png(color):
    b = io.BytesIO(); Image.new("RGB", (56, 56), color).save(b, "PNG"); return base64.b64encode(b.getvalue()).decode()
for col in ("red", "blue"):
    post(f"msg image {col}", "/v1/messages", {**A, "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png(col)}}, {"type": "text", "text": "What is this?"}]}]})
# ops
for m in ("GET", "POST"):
    r = c.request(m, "/ping"); show(f"ping {m}", r)
show("load", c.get("/load"))
post("invocations chat", "/invocations", {"model": M, "max_tokens": 12, "temperature": 0, "messages": [{"role": "user", "content": "Hello there"}]})
post("invocations completion", "/invocations", {"model": M, "max_tokens": 12, "temperature": 0, "prompt": "Hello there"})
post("invocations junk", "/invocations", {"foo": 1})
r = c.post("/invocations", content=b"{not json", headers={"Content-Type": "application/json"}); show("invocations badjson", r)
post("lora load", "/v1/load_lora_adapter", {"lora_name": "x", "lora_path": "/nope"})
