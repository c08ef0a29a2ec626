/** Rows that act as buttons, reachable and usable from the keyboard (Tab, Enter, Space). */
import * as React from 'react';

export function activatable(handler: () => void): {
  role: 'button';
  tabIndex: number;
  onClick: () => void;
  onKeyDown: (event: React.KeyboardEvent) => void;
} {
  return {
    role: 'button',
    tabIndex: 0,
    onClick: handler,
    onKeyDown: event => {
      // Only the row's own keys: a button inside it handles its own Enter.
      if ((event.key === 'Enter' || event.key === ' ') && event.target === event.currentTarget) {
        event.preventDefault();
        handler();
      }
    }
  };
}
