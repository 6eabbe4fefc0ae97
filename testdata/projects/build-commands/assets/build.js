// Bundles assets/src/*.js into assets/dist/app.bundle.js (run by node in the
// builder): its first line names the node that built it.
const fs = require("fs");
const path = require("path");
const src = path.join(__dirname, "src");
const dist = path.join(__dirname, "dist");
const parts = fs.readdirSync(src).filter((f) => f.endsWith(".js")).sort();
const body = parts.map((f) => `// ${f}\n` + fs.readFileSync(path.join(src, f), "utf8")).join("");
fs.mkdirSync(dist, { recursive: true });
fs.writeFileSync(path.join(dist, "app.bundle.js"), `// built by node ${process.version} from ${parts.join(", ")}\n` + body);
