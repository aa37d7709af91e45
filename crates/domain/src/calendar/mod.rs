//! Working-day calendar: Vietnamese lunar calendar at UTC+7, public holidays and deadlines.
//! (Being written; see issue "Working-day calendar and deadlines".)
