// Reads a Prometheus text-format scrape on stdin, prints the metric families as JSON (parse-prometheus-text-format).
const parse = require('parse-prometheus-text-format');
let text = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { text += chunk; });
process.stdin.on('end', () => { process.stdout.write(JSON.stringify(parse(text))); });
