// The openai Node SDK's runTools() loop against magec: argv = base URL, model.
// Prints one JSON line: {content, calls, error}.
import OpenAI from "openai";

const [baseURL, model, prompt] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "none", maxRetries: 0 });
const calls = [];
const out = {};
try {
  const runner = client.chat.completions.runTools({
    model,
    messages: [{ role: "user", content: prompt }],
    tools: [
      {
        type: "function",
        function: {
          name: "get_weather",
          description: "the weather of a city",
          parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
          parse: JSON.parse,
          function: ({ city }) => {
            calls.push(city);
            return `sunny in ${city}`;
          },
        },
      },
    ],
  });
  out.content = await runner.finalContent();
} catch (err) {
  out.error = { status: err.status ?? null, message: err.message, code: err.code ?? null };
}
out.calls = calls;
console.log(JSON.stringify(out));
