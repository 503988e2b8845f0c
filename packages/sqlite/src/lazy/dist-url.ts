/** A module of this folder as the fetcher thread can import it: always the compiled one. */
export function distUrl(relative: string): string {
  const here = new URL(relative, import.meta.url)
  return here.pathname.includes('/src/lazy/') ? here.href.replace('/src/lazy/', '/dist/lazy/') : here.href
}
