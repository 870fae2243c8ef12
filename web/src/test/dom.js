// Just enough of a DOM testing library for these tests: render, query by
// data-testid, type, click, and let pending promises settle.
import { act } from 'react';
import { createRoot } from 'react-dom/client';

const mounted = [];

export async function render(element) {
  const container = document.createElement('div');
  document.body.append(container);
  const root = createRoot(container);
  mounted.push({ root, container });
  await act(async () => root.render(element));
  return {
    container,
    byTestId: (id) => container.querySelector(`[data-testid="${id}"]`),
    allByTestId: (id) => [...container.querySelectorAll(`[data-testid="${id}"]`)],
  };
}

export function cleanup() {
  for (const { root, container } of mounted.splice(0)) {
    act(() => root.unmount());
    container.remove();
  }
}

// React tracks an input's value itself; setting it through the prototype's
// setter is what makes the following input event reach onChange.
export async function typeInto(input, value) {
  const setter = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(input), 'value').set;
  await act(async () => {
    setter.call(input, value);
    input.dispatchEvent(new Event('input', { bubbles: true }));
  });
}

export async function click(element) {
  await act(async () => element.click());
}

export async function submit(form) {
  await act(async () => form.requestSubmit());
}

// Runs queued promise callbacks (fake API answers) and the renders they cause.
export async function settle() {
  await act(async () => {
    await new Promise((resolve) => setTimeout(resolve, 0));
  });
}

// A <select>'s choice, as a user makes it.
export async function choose(select, value) {
  await act(async () => {
    select.value = value;
    select.dispatchEvent(new Event('change', { bubbles: true }));
  });
}
