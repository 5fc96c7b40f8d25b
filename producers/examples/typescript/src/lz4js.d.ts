// lz4js ships no types: the two functions used here (LZ4 frame format, as Kafka's lz4 compression uses it).
declare module "lz4js" {
  export function compress(src: Uint8Array, maxSize?: number): Uint8Array;
  export function decompress(src: Uint8Array, maxSize?: number): Uint8Array;
}
